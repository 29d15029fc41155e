#!/usr/bin/env python3
"""Runs coturn and av1relay side by side under the same turnutils_uclient load, on loopback.

Each server in turn is pinned to core 0 (taskset), the echo peer and the load generators to core 1.
The load is coturn's own tools, as in shared/PERFORMANCE.md: turnutils_peer as the echo peer and
several turnutils_uclient processes in ChannelData mode (-c), one allocation per session. Every
run is bounded: a fixed number of messages per session and a timeout, then every process we
started is stopped by its PID.

Printed per load: messages sent/received, loss, average RTT (uclient's 1 ms clock), relay CPU
(time the relay process spent, over the time the load ran), relay CPU per relayed packet, and
the av1relay/coturn ratios. Repeats each load --repeat times and reports medians.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

from loopback import free_port, stop

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TICK = os.sysconf("SC_CLK_TCK")



def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0



def start_server(kind, port, binary, workdir, extra=()):
    if kind == "coturn":
        args = ["turnserver", "-n", "--listening-ip=127.0.0.1", f"--listening-port={port}", "--relay-ip=127.0.0.1",
                "--min-port=43000", "--max-port=47999", "--lt-cred-mech", "--user=demo:demo", "--realm=bench",
                "--allow-loopback-peers", "--no-tls", "--no-dtls", "--no-cli", "--no-tcp-relay", "--simple-log",
                f"--log-file={workdir}/coturn.log", f"--pidfile={workdir}/coturn.pid", "--total-quota=0", "--user-quota=0"]
    else:
        args = [binary, "--listen", f"127.0.0.1:{port}", "--relay-address", "127.0.0.1", "--min-port", "43000",
                "--max-port", "47999", "--user", "demo:demo", "--realm", "bench", "--allow-peer", "127.0.0.0/8",
                "--channel-range", "rfc5766", "--workers", "1", "--user-quota", "0", "--total-quota", "0",
                "--stats-interval", "0", "--log-level", "warning", "--session-log", "none",
                # Every load client shares 127.0.0.1: no per-source metering (coturn has none either).
                "--source-rate", "0"] + list(extra)
    p = subprocess.Popen(["taskset", "-c", "0"] + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    if p.poll() is not None:
        sys.exit(f"{kind} did not start")
    return p


def run_load(kind, binary, shape, sessions, seconds, workdir):
    """One server under one load; returns its figures. Kinds: coturn, av1relay, and
    av1relay-kernel (hairpin off: allocation to allocation through the kernel)."""
    port = free_port()
    peer_port = free_port()
    extra = ["--hairpin", "off"] if kind == "av1relay-kernel" else []
    server = start_server("coturn" if kind == "coturn" else "av1relay", port, binary, workdir, extra)
    peer = subprocess.Popen(["taskset", "-c", "1", "turnutils_peer", "-L", "127.0.0.1", "-p", str(peer_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    length, interval = {"audio": (196, 20), "video": (1196, 4), "idle": (196, 200), "hairpin": (196, 20)}[shape]
    base_rss = rss_kib(server.pid)
    messages = int(seconds * 1000 / interval)
    per_process = 50
    clients = []
    outputs = []
    cpu0 = cpu_seconds(server.pid)
    t0 = time.monotonic()
    left = sessions
    while left > 0:
        m = min(per_process, left)
        left -= m
        out = tempfile.TemporaryFile(dir=workdir)
        outputs.append(out)
        # hairpin: uclient -y, sessions send to each other's relayed addresses (the AV1 case).
        target = ["-y"] if shape == "hairpin" else ["-e", "127.0.0.1", "-r", str(peer_port)]
        clients.append(subprocess.Popen(
            ["taskset", "-c", "1", "turnutils_uclient", "-c", "-u", "demo", "-w", "demo"] + target +
            ["-p", str(port), "-m", str(m), "-n", str(messages), "-l", str(length),
             "-z", str(interval), "127.0.0.1"], stdout=out, stderr=subprocess.STDOUT))
    rss = 0
    deadline = t0 + seconds * 3 + 30
    while any(c.poll() is None for c in clients) and time.monotonic() < deadline:
        time.sleep(0.5)
        rss = max(rss, rss_kib(server.pid))
    elapsed = time.monotonic() - t0
    cpu = cpu_seconds(server.pid) - cpu0
    for c in clients:
        stop(c)
    stop(peer)
    stop(server)
    sent = received = 0
    rtts = []
    for out in outputs:
        out.seek(0)
        text = out.read().decode(errors="replace")
        # Progress lines carry "msz=..., tot_send_msgs=" running totals; the summary line has none.
        for m in re.finditer(r"start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)", text):
            sent, received = sent + int(m.group(1)), received + int(m.group(2))
        for m in re.finditer(r"Average round trip delay ([\d.]+) ms", text):
            rtts.append(float(m.group(1)))
    # Peer shape: each echoed message crosses the relay twice. Hairpin: each delivered message once.
    relayed = received if shape == "hairpin" else sent + received
    offered = sessions * (1000 / interval) * (1 if shape == "hairpin" else 2)
    return {
        "offered": offered,
        "sent": sent, "received": received, "loss": 100.0 * (sent - received) / sent if sent else 100.0,
        "rtt": statistics.mean(rtts) if rtts else float("nan"), "elapsed": elapsed, "cpu": cpu,
        "cpu_pct": 100.0 * cpu / elapsed, "us_per_packet": 1e6 * cpu / relayed if relayed else float("nan"),
        "rss_mb": rss / 1024, "kib_per_allocation": (rss - base_rss) / sessions,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loads", default="audio:200,video:40",
                    help="shape:sessions,... (audio: 196 B every 20 ms; video: 1196 B every 4 ms; idle: 196 B every 200 ms)")
    ap.add_argument("--seconds", type=float, default=10, help="load duration per run")
    ap.add_argument("--repeat", type=int, default=3, help="runs per load and server; medians are reported")
    ap.add_argument("--binary", default=None, help="av1relay binary (default: the release build)")
    args = ap.parse_args()
    binary = args.binary or subprocess.check_output(
        ["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, text=True).strip() + "/av1relay"
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for load in args.loads.split(","):
            shape, sessions = load.split(":")
            kinds = ("coturn", "av1relay", "av1relay-kernel") if shape == "hairpin" else ("coturn", "av1relay")
            results = {k: [] for k in kinds}
            for _ in range(args.repeat):
                for kind in kinds:  # interleaved, so drift hits all
                    results[kind].append(run_load(kind, binary, shape, int(sessions), args.seconds, workdir))
            med = {k: {f: statistics.median(r[f] for r in v) for f in v[0]} for k, v in results.items()}
            rows.append((f"{shape} ×{sessions}", med))
    print(f"\nav1relay vs coturn, same machine, same load, {args.repeat} runs each, medians; relay on core 0\n")
    print("| load | server | offered pps | relayed msgs | loss | RTT avg | relay CPU s | CPU µs/relayed packet | peak RSS | RSS growth per allocation |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, med in rows:
        for kind in med:
            m = med[kind]
            print(f"| {name} | {kind} | {m['offered']:.0f} | {m['sent'] + m['received']:.0f} | {m['loss']:.2f} % | "
                  f"{m['rtt']:.2f} ms | {m['cpu']:.2f} | {m['us_per_packet']:.2f} | {m['rss_mb']:.1f} MB | "
                  f"{m['kib_per_allocation']:.1f} KiB |")
    print("\n| load | relay CPU per relayed packet, av1relay / coturn |")
    print("| --- | --- |")
    for name, med in rows:
        a, c = med["av1relay"], med["coturn"]
        print(f"| {name} | {a['us_per_packet'] / c['us_per_packet']:.2f} |")
        if "av1relay-kernel" in med:
            k = med["av1relay-kernel"]
            print(f"| {name}: hairpin on / off | {a['us_per_packet'] / k['us_per_packet']:.2f} |")


if __name__ == "__main__":
    main()
