#!/usr/bin/env python3
"""Records real clients' traffic as fuzz seeds (issue 13): what coturn's turnutils_uclient (UDP and
TCP) and av1sim (a robot/app call) send to av1relay, through a loopback proxy that keeps a few
distinct messages of each kind.

Writes Fuzz/Corpus/FuzzSTUN/recorded-<client>-<kind>-<n> (one datagram or frame each: STUN by
method and class, ChannelData, DTLS/SRTP payloads as relayed in Send indications and ChannelData)
and Fuzz/Corpus/FuzzFramer/recorded-uclient-tcp (the start of uclient's TCP stream, uncut).
Nothing here is a person's media: av1sim's video is a synthetic pattern and SRTP-encrypted, and
uclient's payloads are its own filler bytes. Every process is on loopback, bounded in time and
stopped by its PID. Run it again (and commit what changed) when a client's messages change shape.
"""
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time

from loopback import free_port, stop

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PER_KIND = 3



def kind_of(message):
    """STUN method/class, ChannelData, or other, by the first bytes (RFC 7983, RFC 8656 §12)."""
    if len(message) >= 20 and message[0] < 4 and message[4:8] == b"\x21\x12\xa4\x42":
        t = struct.unpack("!H", message[:2])[0]
        method = (t & 0x000F) | ((t & 0x00E0) >> 1) | ((t & 0x3E00) >> 2)
        cls = ((t & 0x0010) >> 4) | ((t & 0x0100) >> 7)
        names = {1: "binding", 3: "allocate", 4: "refresh", 6: "send", 7: "data", 8: "createpermission", 9: "channelbind"}
        return f"{names.get(method, 'method%d' % method)}-{['request', 'indication', 'success', 'error'][cls]}"
    if len(message) >= 4 and 0x40 <= message[0] <= 0x7F:  # RFC 5766 channels reach 0x7FFF (channel-range rfc5766)
        return "channeldata"
    return "other"


class Recorder:
    def __init__(self):
        self.kept = {}
        self.lock = threading.Lock()

    def keep(self, client, message):
        key = (client, kind_of(message))
        with self.lock:
            seen = self.kept.setdefault(key, [])
            if len(seen) < PER_KIND and message not in seen:
                seen.append(message)

    def write(self):
        out = os.path.join(ROOT, "Fuzz", "Corpus", "FuzzSTUN")
        os.makedirs(out, exist_ok=True)
        for old in os.listdir(out):
            if old.startswith("recorded-"):
                os.remove(os.path.join(out, old))
        n = 0
        for (client, kind), messages in sorted(self.kept.items()):
            for i, m in enumerate(messages):
                with open(os.path.join(out, f"recorded-{client}-{kind}-{i}"), "wb") as f:
                    f.write(m)
                n += 1
        return n


def udp_proxy(recorder, client, listen_port, relay_port, stop):
    """Each client source gets its own upstream socket, so the relay sees one 5-tuple per client."""
    front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    front.bind(("127.0.0.1", listen_port))
    upstream = {}
    back = {}
    while not stop.is_set():
        ready, _, _ = select.select([front] + list(upstream.values()), [], [], 0.2)
        for s in ready:
            data, source = s.recvfrom(65536)
            if s is front:
                if source not in upstream:
                    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    u.connect(("127.0.0.1", relay_port))
                    upstream[source] = u
                    back[u] = source
                recorder.keep(client, data)
                upstream[source].send(data)
            else:
                front.sendto(data, back[s])
    for s in [front] + list(upstream.values()):
        s.close()


def tcp_proxy(recorder, listen_port, relay_port, stop, stream):
    """One TCP client at a time (uclient -t -m 1): its stream's frames are kept, and its start."""
    front = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    front.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    front.bind(("127.0.0.1", listen_port))
    front.listen(8)
    pairs = []
    buffers = {}
    while not stop.is_set():
        ready, _, _ = select.select([front] + [s for p in pairs for s in p], [], [], 0.2)
        for s in ready:
            if s is front:
                c, _ = front.accept()
                u = socket.create_connection(("127.0.0.1", relay_port))
                pairs.append((c, u))
                buffers[c] = b""
                continue
            pair = next(p for p in pairs if s in p)
            data = s.recv(65536)
            other = pair[1] if s is pair[0] else pair[0]
            if not data:
                pairs.remove(pair)
                pair[0].close()
                pair[1].close()
                continue
            if s is pair[0]:
                if len(stream) < 4096:
                    stream.extend(data[: 4096 - len(stream)])
                buffers[s] += data
                b = buffers[s]
                while len(b) >= 4:  # frames: STUN (20 + length) or ChannelData (4 + length, padded to 4)
                    n = (20 if b[0] < 4 else 4) + struct.unpack("!H", b[2:4])[0]
                    n += (-n) % 4 if b[0] >= 0x40 else 0
                    if len(b) < n:
                        break
                    recorder.keep("uclient-tcp", b[:n])
                    b = b[n:]
                buffers[s] = b
            other.sendall(data)
    front.close()


def main():
    bin_dir = subprocess.check_output(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, text=True).strip()
    relay_port, proxy_port, peer_port = free_port(), free_port(), free_port()
    relay = subprocess.Popen(
        [f"{bin_dir}/av1relay", "--listen", f"127.0.0.1:{relay_port}", "--tcp-listen", f"127.0.0.1:{relay_port}",
         "--relay-address", "127.0.0.1", "--min-port", "43000", "--max-port", "47999", "--user", "demo:demo",
         "--auth-secret", "seed-secret", "--allow-peer", "127.0.0.0/8", "--channel-range", "rfc5766",
         "--session-log", "none", "--session-store", "none", "--admin-listen", "none", "--state-directory", "/tmp",
         "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peer = subprocess.Popen(["turnutils_peer", "-L", "127.0.0.1", "-p", str(peer_port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    recorder = Recorder()
    stop = threading.Event()
    stream = bytearray()
    proxies = [threading.Thread(target=udp_proxy, args=(recorder, "uclient", proxy_port, relay_port, stop)),
               threading.Thread(target=tcp_proxy, args=(recorder, proxy_port, relay_port, stop, stream))]
    for p in proxies:
        p.start()
    time.sleep(1)
    try:
        uclient = ["turnutils_uclient", "-u", "demo", "-w", "demo", "-e", "127.0.0.1", "-r", str(peer_port), "-p",
                   str(proxy_port), "-n", "20", "-l", "120"]
        for flags in (["-c", "-m", "2"], ["-m", "2"], ["-t", "-c", "-m", "1"]):
            subprocess.run(uclient + flags + ["127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        # av1sim's robot and app both reach the relay through the proxy, under their own name.
        stop_udp = threading.Event()
        av_port = free_port()
        av = threading.Thread(target=udp_proxy, args=(recorder, "av1sim", av_port, relay_port, stop_udp))
        av.start()
        time.sleep(0.5)
        subprocess.run([f"{bin_dir}/av1sim", "pair", "--relay", f"127.0.0.1:{av_port}", "--secret", "seed-secret",
                        "--device", "seed", "--duration", "4", "--width", "160", "--height", "120"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=90)
        stop_udp.set()
        av.join()
    finally:
        stop.set()
        for p in proxies:
            p.join()
        for p in (relay, peer):
            stop(p, 10)
    n = recorder.write()
    framer = os.path.join(ROOT, "Fuzz", "Corpus", "FuzzFramer")
    os.makedirs(framer, exist_ok=True)
    with open(os.path.join(framer, "recorded-uclient-tcp"), "wb") as f:
        f.write(b"\x00" + bytes(stream))  # no cuts: the framer target's script byte, then the stream
    kinds = sorted({f"{c}:{k}" for c, k in recorder.kept})
    print(f"{n} messages of {len(kinds)} kinds, and {len(stream)} bytes of a TCP stream: {', '.join(kinds)}")
    if n < 10 or not stream:
        sys.exit("too little recorded: did the clients reach the relay?")


if __name__ == "__main__":
    main()
