#!/usr/bin/env python3
"""A soak of av1relay (issue 13): allocation churn for --minutes, on loopback, bounded in time.

One av1relay (release build) on UDP, TCP and TLS, with a session log and its SQLite store. Until
the deadline, at once:

- turnutils_uclient over UDP (ChannelData and Send indications, in turn), TCP and TLS: each run
  makes its allocations, relays 200 messages per client through turnutils_peer, and frees them;
- av1sim pair calls (DTLS-SRTP, VP8, Opus) of 20 s, one after another;
- clients that vanish: TCP connections closed after half a STUN header, or held silent until the
  relay's handshake timeout; TLS connections cut mid-handshake or right after it (no
  close_notify); UDP garbage and unauthenticated Allocates from new source ports.

With --paired, pairing is on and three lines of av1sim calls replace uclient (which is neither a
robot nor an app), so live sessions, their interim and final records, the session log and the
store are soaked too.

The relay's RSS, open descriptors and threads are sampled every 10 s. After the load the relay
idles until its connections and allocations are gone, and must then still answer STUN over UDP,
TCP and TLS and relay one more uclient run (or av1sim call). Passes (exit 0) when the relay never exited, RSS at
the end is within 10 % + 8 MiB of RSS after warm-up (the first sixth), the descriptors idle after
the load are those idle before it (± 2), and the last checks answer. Prints the samples and a
summary row for docs/HARDENING.md; writes both as JSON to --out.
"""
import argparse
import json
import os
import random
import re
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time

from loopback import free_port, stop

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)



def proc_status(pid):
    out = {"rss_kib": 0, "threads": 0}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                out["rss_kib"] = int(line.split()[1])
            elif line.startswith("Threads:"):
                out["threads"] = int(line.split()[1])
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out


def binding_request():
    return struct.pack("!HHI12s", 0x0001, 0, 0x2112A442, os.urandom(12))


def is_binding_success(data):
    return len(data) >= 20 and struct.unpack("!H", data[:2])[0] == 0x0101


def udp_binding(port, timeout=2.0):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        for _ in range(3):
            s.sendto(binding_request(), ("127.0.0.1", port))
            try:
                if is_binding_success(s.recv(2048)):
                    return True
            except socket.timeout:
                continue
    return False


def stream_binding(port, tls_context=None, timeout=5.0):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
            s = tls_context.wrap_socket(raw, server_hostname="localhost") if tls_context else raw
            s.sendall(binding_request())
            data = b""
            while len(data) < 20:
                chunk = s.recv(2048)
                if not chunk:
                    return False
                data += chunk
            return is_binding_success(data)
    except OSError:
        return False


class Soak:
    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.deadline = None
        self.stop = threading.Event()
        self.counts = {"uclient_runs": 0, "uclient_failed": 0, "av1sim_calls": 0, "av1sim_failed": 0, "vanishing_clients": 0, "messages_sent": 0, "messages_received": 0,
                       "garbage_datagrams": 0}
        self.lock = threading.Lock()
        self.children = set()
        self.failures = []

    def count(self, key, n=1):
        with self.lock:
            self.counts[key] += n

    def run(self, argv, timeout):
        """A helper process, stopped by its PID at its timeout or at the soak's end."""
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        with self.lock:
            self.children.add(p)
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        with self.lock:
            self.children.discard(p)
        return p.returncode, out

    def uclient(self, transport, channels):
        port = self.tls_port if transport == "tls" else self.port
        flags = {"udp": [], "tcp": ["-t"], "tls": ["-t", "-S"]}[transport] + (["-c"] if channels else [])
        clients = 10 if transport == "udp" else 5
        _, out = self.run(["turnutils_uclient"] + flags + ["-u", "demo", "-w", "demo", "-e", "127.0.0.1", "-r",
                                                             str(self.peer_port), "-p", str(port), "-m", str(clients),
                                                             "-n", "200", "-l", "200", "-z", "20", "127.0.0.1"], 120)
        # Its summary line; its exit status says nothing useful.
        totals = re.findall(r"start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)", out)
        ok = bool(totals) and int(totals[-1][1]) > 0
        if totals:
            self.count("messages_sent", int(totals[-1][0]))
            self.count("messages_received", int(totals[-1][1]))
        self.count("uclient_runs")
        if not ok:
            self.count("uclient_failed")
            with self.lock:
                if len(self.failures) < 5:
                    self.failures.append(out[-600:])
            time.sleep(1)  # not a tight loop of failures
        return ok

    def uclient_loop(self, transport):
        channels = True
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            self.uclient(transport, channels)
            channels = not channels if transport == "udp" else channels

    def av1sim_call(self, device, seconds=20):
        code, _ = self.run([self.av1sim, "pair", "--relay", f"127.0.0.1:{self.port}", "--secret", "soak-secret",
                            "--device", device, "--duration", str(seconds), "--width", "160", "--height", "120"], 90)
        self.count("av1sim_calls")
        if code != 0:
            self.count("av1sim_failed")
        return code == 0

    def av1sim_loop(self, line):
        n = 0
        while not self.stop.is_set() and time.monotonic() < self.deadline - 25:
            n += 1
            self.av1sim_call(f"soak-{line}-{n % 20}")

    def vanishing_loop(self):
        held = []
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            kind = random.randrange(6)
            try:
                if kind == 0:  # half a STUN header, then gone
                    with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                        s.sendall(binding_request()[:9])
                elif kind == 1:  # silent until the handshake timeout (at most 20 held)
                    held.append((time.monotonic(), socket.create_connection(("127.0.0.1", self.port), timeout=2)))
                elif kind == 2:  # a TLS record header and a few bytes of a ClientHello, then gone
                    with socket.create_connection(("127.0.0.1", self.tls_port), timeout=2) as s:
                        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc" + os.urandom(40))
                elif kind == 3:  # a whole handshake, then the TCP connection dropped without close_notify
                    raw = socket.create_connection(("127.0.0.1", self.tls_port), timeout=5)
                    tls = insecure.wrap_socket(raw, server_hostname="localhost")
                    tls.sendall(binding_request()[:5])
                    raw.close()
                elif kind == 4:  # garbage datagrams from a new source port
                    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                        for _ in range(20):
                            s.sendto(os.urandom(random.randrange(1, 1400)), ("127.0.0.1", self.port))
                    self.count("garbage_datagrams", 20)
                else:  # an unauthenticated Allocate (REQUESTED-TRANSPORT UDP), from a new source port
                    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                        s.sendto(struct.pack("!HHI12sHHI", 0x0003, 8, 0x2112A442, os.urandom(12), 0x0019, 4, 0x11000000),
                                 ("127.0.0.1", self.port))
                    self.count("garbage_datagrams")
                self.count("vanishing_clients")
            except OSError:
                pass
            now = time.monotonic()
            while held and (len(held) > 20 or now - held[0][0] > 15):
                held.pop(0)[1].close()
            time.sleep(0.05)
        for _, s in held:
            s.close()

    def sample_loop(self, pid, samples, t0):
        while not self.stop.wait(self.args.sample_seconds):
            try:
                samples.append({"t": round(time.monotonic() - t0), **proc_status(pid)})
            except FileNotFoundError:
                return

    def main(self):
        a = self.args
        bin_dir = subprocess.check_output(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, text=True).strip()
        self.av1sim = f"{bin_dir}/av1sim"
        cert, key = f"{self.workdir}/cert.pem", f"{self.workdir}/key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                        "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        self.port, self.tls_port, self.peer_port = free_port(), free_port(socket.SOCK_STREAM), free_port()
        log = open(f"{self.workdir}/relay.log", "w")
        relay = subprocess.Popen(
            [f"{bin_dir}/av1relay", "--listen", f"127.0.0.1:{self.port}", "--tcp-listen", f"127.0.0.1:{self.port}",
             "--tls-listen", f"127.0.0.1:{self.tls_port}", "--tls-cert", cert, "--tls-key", key, "--relay-address",
             "127.0.0.1", "--min-port", "43000", "--max-port", "47999", "--user", "demo:demo", "--auth-secret",
             "soak-secret", "--realm", "soak", "--allow-peer", "127.0.0.0/8", "--channel-range", "rfc5766",
             "--source-rate", "0", "--user-quota", "0", "--total-quota", "0",
             # Allocations a client left behind end within a minute, so that the idle figures come back.
             "--default-lifetime", "60", "--max-lifetime", "60", "--session-log", f"{self.workdir}/sessions.jsonl", "--state-directory", self.workdir,
             "--session-interim", "10", "--pairing", "on" if a.paired else "off", "--admin-listen", "none", "--stats-interval", "0", "--handshake-timeout", "10",
             "--log-level", "notice"], stdout=log, stderr=subprocess.STDOUT)
        peer = subprocess.Popen(["turnutils_peer", "-L", "127.0.0.1", "-p", str(self.peer_port)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            ready = time.monotonic() + 30
            while not udp_binding(self.port, 0.5):
                if relay.poll() is not None or time.monotonic() > ready:
                    sys.exit(f"av1relay did not start: {open(log.name).read()[-2000:]}")
            time.sleep(2)  # a settled idle figure: the first scrape of a just-started process
            idle_before = proc_status(relay.pid)
            samples = []
            t0 = time.monotonic()
            self.deadline = t0 + a.minutes * 60
            threads = [threading.Thread(target=self.sample_loop, args=(relay.pid, samples, t0))]
            if a.paired:  # robots and apps only: coturn's client is neither
                threads += [threading.Thread(target=self.av1sim_loop, args=(line,)) for line in range(3)]
            else:
                threads += [threading.Thread(target=self.uclient_loop, args=(t,)) for t in ("udp", "tcp", "tls")]
                threads += [threading.Thread(target=self.av1sim_loop, args=(0,))]
            threads += [threading.Thread(target=self.vanishing_loop)]
            for t in threads:
                t.start()
            while time.monotonic() < self.deadline and relay.poll() is None:
                time.sleep(1)
            for t in threads[1:]:
                t.join(180)
            # Idle: allocations end with their clients or their lifetime (60 s), connections with the
            # handshake timeout (10 s).
            settle = time.monotonic() + 180
            idle_after = proc_status(relay.pid) if relay.poll() is None else None
            while relay.poll() is None and time.monotonic() < settle:
                idle_after = proc_status(relay.pid)
                if abs(idle_after["fds"] - idle_before["fds"]) <= 2:
                    break
                time.sleep(2)
            self.stop.set()
            threads[0].join(30)
            alive = relay.poll() is None
            tls_context = ssl.create_default_context(cafile=cert)
            checks = {
                "udp_binding": alive and udp_binding(self.port),
                "tcp_binding": alive and stream_binding(self.port),
                "tls_binding": alive and stream_binding(self.tls_port, tls_context),
                "relayed": alive and (self.av1sim_call("soak-last", 5) if a.paired else self.uclient("udp", True)),
            }
        finally:
            self.stop.set()
            with self.lock:
                for p in list(self.children):
                    p.kill()
            for p in (peer, relay):
                stop(p, 20)
            log.close()
        warm = [s for s in samples if s["t"] >= a.minutes * 60 / 6]
        rss_warm = warm[0]["rss_kib"] if warm else 0
        rss_end = samples[-1]["rss_kib"] if samples else 0
        text = open(log.name).read()
        records = sum(1 for _ in open(f"{self.workdir}/sessions.jsonl")) if os.path.exists(f"{self.workdir}/sessions.jsonl") else 0
        summary = {
            "minutes": a.minutes, "paired": a.paired, "exit_code": relay.returncode, "alive_until_end": alive,
            "rss_kib": {"idle_before": idle_before["rss_kib"], "after_warmup": rss_warm, "end_of_load": rss_end,
                        "max": max((s["rss_kib"] for s in samples), default=0),
                        "idle_after": idle_after["rss_kib"] if idle_after else None},
            "fds": {"idle_before": idle_before["fds"], "after_warmup": warm[0]["fds"] if warm else 0,
                    "max": max((s["fds"] for s in samples), default=0), "idle_after": idle_after["fds"] if idle_after else None},
            "threads": {"idle_before": idle_before["threads"], "max": max((s["threads"] for s in samples), default=0)},
            "load": self.counts, "session_records": records, "final_checks": checks,
            "uclient_failures_seen": self.failures,
            "relay_log_errors": sum(1 for line in text.splitlines() if " error " in line or " critical " in line),
        }
        passed = (alive and all(checks.values()) and rss_end <= rss_warm * 1.10 + 8192 and idle_after is not None
                  and abs(idle_after["fds"] - idle_before["fds"]) <= 2)
        summary["passed"] = passed
        with open(a.out, "w") as f:
            json.dump({"summary": summary, "samples": samples}, f, indent=1)
        print("| t (s) | RSS (MiB) | fds | threads |\n| --- | --- | --- | --- |")
        for s in samples[:: max(1, len(samples) // 30)] + samples[-1:]:
            print(f"| {s['t']} | {s['rss_kib'] / 1024:.1f} | {s['fds']} | {s['threads']} |")
        print(json.dumps(summary, indent=1))
        r, d = summary["rss_kib"], summary["fds"]
        print(f"\n| {a.minutes} min | RSS {r['idle_before'] / 1024:.1f} idle → {r['after_warmup'] / 1024:.1f} after warm-up → "
              f"{r['end_of_load'] / 1024:.1f} MiB at the end (max {r['max'] / 1024:.1f}) | fds {d['idle_before']} idle → "
              f"max {d['max']} → {d['idle_after']} idle | uclient runs {self.counts['uclient_runs']} "
              f"({self.counts['uclient_failed']} failed), av1sim calls {self.counts['av1sim_calls']} "
              f"({self.counts['av1sim_failed']} failed), vanishing clients {self.counts['vanishing_clients']} | "
              f"{'passed' if passed else 'FAILED'} |")
        return 0 if passed else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30, help="how long the load runs")
    ap.add_argument("--paired", action="store_true",
                    help="pairing on: three lines of av1sim calls instead of uclient, so sessions and their records are soaked too")
    ap.add_argument("--sample-seconds", type=float, default=10, help="seconds between samples")
    ap.add_argument("--out", default=os.path.join(ROOT, ".build", "soak.json"), help="where the samples and summary go")
    args = ap.parse_args()
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with tempfile.TemporaryDirectory() as workdir:
        sys.exit(Soak(args, workdir).main())


if __name__ == "__main__":
    main()
