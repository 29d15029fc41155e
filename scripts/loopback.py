"""What the load and soak scripts share: free loopback ports, and stopping what they started."""
import signal
import socket
import subprocess


def free_port(kind=socket.SOCK_DGRAM):
    """A port 127.0.0.1 can bind now (UDP by default; SOCK_STREAM for TCP)."""
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def stop(p, seconds=5):
    """SIGTERM to a process we started, by its PID; SIGKILL if it has not exited within `seconds`."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(seconds)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
