#!/usr/bin/env python3
"""A robot/app call between two RTCPeerConnections in headless Chromium, relay-only through av1relay.

The robot sends the fake camera (video) and microphone (audio), the app sends audio back; each
has its own TURN REST credential (robot:<device>, app:<device>) and iceTransportPolicy 'relay',
so every packet of the call crosses the relay. SDP and candidates are passed inside the page.
Once both are connected and media has flowed for --seconds, the script reads getStats() of both
(selected candidate pair types, DTLS version and state, decoded video frames), closes both
PeerConnections (libwebrtc then deletes its allocations with a Refresh of lifetime 0) and prints
one JSON object on stdout. Exit 0 when the call connected and stats were read; 1 when it did not
(the reason and the page's state on stderr); 2 for bad arguments; 3 when Chromium, its driver or
Selenium is missing (`make deps-test` installs Debian's chromium and chromium-driver and PyPI's
selenium). Nothing is downloaded at run time: the driver path is given, Selenium Manager is off.

DTLS version: Chromium negotiates DTLS 1.3 ("FEFC" in stats) with a 1.2 fallback, and has no
switch left to force 1.2. libwebrtc's field trial WebRTC-ForceDtls13 ("Disabled" capped it at
1.2) is gone from Debian's Chromium 156: its name is not in the binary, and with
--field-trials WebRTC-ForceDtls13/Disabled/ the call still negotiates FEFC. --field-trials
passes any other trial through (e.g. WebRTC-IceHandshakeDtls/Enabled/).

--transport tcp reaches the relay as turn:HOST:PORT?transport=tcp, --transport tls as
turns:HOST:PORT?transport=tcp (the relay's TLS port). Chromium checks a turns: certificate as it
checks a web site's: --tls-spki gives the base64 SHA-256 of a test certificate's public key
(--ignore-certificate-errors-spki-list), so a test relay's own certificate is accepted and no
other is.

  av1relay --pairing on --auth-secret S --session-log /tmp/s.jsonl &
  scripts/browser-call.py --relay-port 3478 --secret S --device demo
"""

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import shutil
import sys
import tempfile
import threading
import time

# Selenium Manager must never fetch a driver or a browser: the paths below are given explicitly.
os.environ["SE_OFFLINE"] = "1"

PAGE = r"""<!doctype html>
<html><head><meta charset="utf-8"><title>av1relay browser call</title></head><body>
<script>
"use strict";
window.callState = { phase: "idle" };
window.timers = [];

function iceConfig(url, cred) {
  return { iceServers: [{ urls: url, username: cred.username, credential: cred.password }], iceTransportPolicy: "relay" };
}

// Candidates reach the other side only once it has a remote description; until then they wait.
function wire(from, to, name) {
  const pending = [];
  const state = window.callState;
  from.onicecandidate = (e) => {
    if (!e.candidate) return;
    state.candidates[name] = (state.candidates[name] || 0) + 1;
    if (to.remoteDescription) to.addIceCandidate(e.candidate).catch((err) => state.notes.push(name + ": " + err));
    else pending.push(e.candidate);
  };
  return async () => { for (const c of pending.splice(0)) await to.addIceCandidate(c); };
}

async function startCall(cfg) {
  const state = window.callState = { phase: "starting", candidates: {}, notes: [], states: [] };
  try {
    const robot = new RTCPeerConnection(iceConfig(cfg.robotTurnUrl, cfg.robot));
    const app = new RTCPeerConnection(iceConfig(cfg.appTurnUrl, cfg.app));
    window.pcs = { robot, app };
    for (const [name, pc] of Object.entries(window.pcs)) {
      pc.onconnectionstatechange = () => state.states.push(name + ":" + pc.connectionState);
      pc.onicecandidateerror = (e) => state.notes.push(name + " candidate error " + e.errorCode + " " + e.errorText);
    }
    const flushToApp = wire(robot, app, "robot");
    const flushToRobot = wire(app, robot, "app");
    if (cfg.media) {
      const camera = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
      for (const t of camera.getTracks()) robot.addTrack(t, camera);
      const microphone = await navigator.mediaDevices.getUserMedia({ audio: true });
      for (const t of microphone.getTracks()) app.addTrack(t, microphone);
    }
    if (cfg.dataChannel) {
      state.messages = { robot: 0, app: 0 };
      const chatter = (channel, name) => {
        channel.onmessage = () => { state.messages[name] += 1; };
        channel.onopen = () => { window.timers.push(setInterval(() => channel.send(name + " " + Date.now()), 50)); };
      };
      chatter(robot.createDataChannel("control"), "robot");
      app.ondatachannel = (e) => chatter(e.channel, "app");
    }
    await robot.setLocalDescription(await robot.createOffer());
    await app.setRemoteDescription(robot.localDescription);
    await app.setLocalDescription(await app.createAnswer());
    await robot.setRemoteDescription(app.localDescription);
    await flushToApp();
    await flushToRobot();
    state.phase = "connecting";
  } catch (err) {
    state.phase = "error";
    state.error = String(err);
  }
}

function connectionStates() {
  const p = window.pcs || {};
  return { robot: p.robot && p.robot.connectionState, app: p.app && p.app.connectionState };
}

// For a failure's message: where each side's ICE got to.
function iceStates() {
  const out = {};
  for (const [name, pc] of Object.entries(window.pcs || {})) {
    out[name] = { gathering: pc.iceGatheringState, ice: pc.iceConnectionState, signaling: pc.signalingState };
  }
  return out;
}

async function side(pc) {
  const reports = new Map();
  (await pc.getStats()).forEach((r) => reports.set(r.id, r));
  const all = [...reports.values()];
  const out = { connectionState: pc.connectionState };
  const transport = all.find((r) => r.type === "transport");
  if (transport) {
    Object.assign(out, { tlsVersion: transport.tlsVersion, dtlsState: transport.dtlsState, dtlsRole: transport.dtlsRole,
                         dtlsCipher: transport.dtlsCipher, srtpCipher: transport.srtpCipher });
    const pair = reports.get(transport.selectedCandidatePairId);
    if (pair) {
      const local = reports.get(pair.localCandidateId) || {};
      const remote = reports.get(pair.remoteCandidateId) || {};
      Object.assign(out, { localCandidateType: local.candidateType, remoteCandidateType: remote.candidateType,
                           relayAddress: local.address,
                           relayProtocol: local.relayProtocol, currentRoundTripTime: pair.currentRoundTripTime });
    }
  }
  out.inboundKinds = [...new Set(all.filter((r) => r.type === "inbound-rtp" && r.packetsReceived > 0).map((r) => r.kind))].sort();
  for (const r of all.filter((r) => r.type === "inbound-rtp")) {
    const k = r.kind;
    out[k + "PacketsReceived"] = (out[k + "PacketsReceived"] || 0) + (r.packetsReceived || 0);
    if (k === "video") out.videoFramesDecoded = (out.videoFramesDecoded || 0) + (r.framesDecoded || 0);
  }
  for (const r of all.filter((r) => r.type === "data-channel")) {
    out.dataMessagesReceived = (out.dataMessagesReceived || 0) + (r.messagesReceived || 0);
  }
  for (const r of all.filter((r) => r.type === "outbound-rtp")) {
    out[r.kind + "PacketsSent"] = (out[r.kind + "PacketsSent"] || 0) + (r.packetsSent || 0);
    // A retransmission stream (RFC 4588) of its own SSRC: repairs and bandwidth-probe padding.
    if (r.rtxSsrc !== undefined) out.rtxStreamsSent = (out.rtxStreamsSent || 0) + 1;
  }
  return out;
}

async function collect() {
  return { robot: await side(window.pcs.robot), app: await side(window.pcs.app) };
}

function hangUp() {
  for (const t of window.timers) clearInterval(t);
  window.pcs.robot.close();
  window.pcs.app.close();
  return connectionStates();
}
</script></body></html>
"""


def rest_credential(secret, identity, lifetime=3600):
    """TURN REST: username "<unix-expiry>:<identity>", password base64(HMAC-SHA1(secret, username))."""
    username = f"{int(time.time()) + lifetime}:{identity}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return {"username": username, "password": base64.b64encode(digest).decode()}


class PageServer:
    """The page on http://127.0.0.1:<kernel's port>/ — a secure context, so getUserMedia works."""

    def __init__(self):
        body = PAGE.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path not in ("/", "/index.html"):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def fail(message, code=1, state=None, driver=None):
    print(f"browser-call: {message}", file=sys.stderr)
    if driver is not None:
        try:
            print(f"browser-call: ICE: {json.dumps(driver.execute_script('return iceStates()'), sort_keys=True)}", file=sys.stderr)
        except Exception:
            pass
    if state is not None:
        print(f"browser-call: page state: {json.dumps(state, sort_keys=True)}", file=sys.stderr)
    sys.exit(code)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--relay-port", type=int, required=True, help="av1relay's port on --relay-host for --transport")
    p.add_argument("--transport", choices=("udp", "tcp", "tls"), default="udp",
                   help="how both PeerConnections reach the relay (default udp)")
    p.add_argument("--tls-spki", metavar="BASE64",
                   help="turns: trust the certificate whose public key has this SHA-256 (base64)")
    p.add_argument("--app-relay-host", help="the app's relay when not the robot's (a fleet: both should end on the home)")
    p.add_argument("--app-relay-port", type=int, help="the app's relay's port (default --relay-port)")
    p.add_argument("--app-device", help="the app's device id when not --device (another robot's: pairing must refuse it)")
    p.add_argument("--relay-host", default="127.0.0.1", help="av1relay's address (default 127.0.0.1)")
    p.add_argument("--secret", required=True, help="the relay's TURN REST secret (--auth-secret)")
    p.add_argument("--device", default="browser-1", help="device id: credentials robot:<id> and app:<id>")
    p.add_argument("--seconds", type=float, default=4, help="seconds of media after both are connected (default 4)")
    p.add_argument("--connect-timeout", type=float, default=30, help="deadline for both to connect (default 30)")
    p.add_argument("--field-trials", default="",
                   help="libwebrtc field trials for --force-fieldtrials, e.g. WebRTC-IceHandshakeDtls/Enabled/")
    p.add_argument("--data-channel", action="store_true",
                   help="also open a data channel and send a message each way every 50 ms")
    p.add_argument("--no-media", action="store_true", help="no audio or video tracks (with --data-channel)")
    p.add_argument("--linger", type=float, default=1.5,
                   help="seconds between closing the PeerConnections and quitting the browser (default 1.5)")
    p.add_argument("--json", metavar="FILE", help="also write the JSON object to FILE")
    p.add_argument("--chromium", default="/usr/bin/chromium", help="Chromium binary (Debian's chromium)")
    p.add_argument("--driver", default="/usr/bin/chromedriver", help="ChromeDriver (Debian's chromium-driver)")
    return p.parse_args()


def main():
    args = parse_args()
    if args.no_media and not args.data_channel:
        fail("--no-media needs --data-channel: a call with neither carries nothing", 2)
    for path, package in ((args.chromium, "chromium"), (args.driver, "chromium-driver")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            fail(f"{path} not found: install Debian's {package} (make deps-test does)", 3)
    try:
        from selenium import webdriver
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        fail("python3 cannot import selenium: pip install selenium (make deps-test does)", 3)

    options = webdriver.ChromeOptions()
    options.binary_location = args.chromium
    profile = tempfile.mkdtemp(prefix="browser-call-")
    for flag in (
        "--headless=new",
        "--no-sandbox",  # we run as root
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--user-data-dir={profile}",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        # Keep the browser off the network: only the page on loopback and the relay.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-domain-reliability",
        "--disable-client-side-phishing-detection",
        "--disable-default-apps",
        "--no-pings",
        "--metrics-recording-only",
    ):
        options.add_argument(flag)
    if args.field_trials:
        options.add_argument(f"--force-fieldtrials={args.field_trials}")
    if args.tls_spki:
        options.add_argument(f"--ignore-certificate-errors-spki-list={args.tls_spki}")
    scheme, proto = {"udp": ("turn", "udp"), "tcp": ("turn", "tcp"), "tls": ("turns", "tcp")}[args.transport]

    cfg = {
        "robotTurnUrl": f"{scheme}:{args.relay_host}:{args.relay_port}?transport={proto}",
        "appTurnUrl": f"{scheme}:{args.app_relay_host or args.relay_host}:{args.app_relay_port or args.relay_port}?transport={proto}",
        "robot": rest_credential(args.secret, f"robot:{args.device}"),
        "app": rest_credential(args.secret, f"app:{args.app_device or args.device}"),
        "media": not args.no_media,
        "dataChannel": args.data_channel,
    }
    server = PageServer()
    driver = None
    state = None
    try:
        try:
            driver = webdriver.Chrome(options=options, service=Service(executable_path=args.driver))
        except WebDriverException as err:
            fail(f"Chromium did not start: {err.msg or err}", 3)
        driver.set_script_timeout(30)
        version = driver.capabilities.get("browserVersion", "")
        driver.get(server.url)
        started = time.monotonic()
        driver.execute_async_script("startCall(arguments[0]).then(arguments[1])", cfg)

        deadline = started + args.connect_timeout
        while True:
            state = driver.execute_script("return Object.assign({}, window.callState, {pcs: connectionStates()})")
            if state.get("phase") == "error":
                fail(f"the page failed to set up the call: {state.get('error')}", 1, state, driver)
            pcs = state["pcs"]
            if pcs.get("robot") == "connected" and pcs.get("app") == "connected":
                break
            if "failed" in pcs.values() or "closed" in pcs.values():
                fail(f"a PeerConnection ended before both connected: {pcs}", 1, state, driver)
            if time.monotonic() > deadline:
                fail(f"not connected within {args.connect_timeout:g} s: {pcs}", 1, state, driver)
            time.sleep(0.2)
        connect_ms = round((time.monotonic() - started) * 1000)

        time.sleep(args.seconds)
        stats = driver.execute_async_script("collect().then(arguments[0])")
        closing_at = time.time()
        closed = driver.execute_script("return hangUp()")
        closed_at = time.time()
        # The Refresh with lifetime 0 goes out as the TURN ports are destroyed; give it a moment
        # on the wire before the browser process goes away.
        time.sleep(args.linger)
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception:
                pass
        server.close()
        shutil.rmtree(profile, ignore_errors=True)

    robot, app = stats["robot"], stats["app"]
    versions = {robot.get("tlsVersion"), app.get("tlsVersion")}
    result = {
        "browser": f"Chromium {version}",
        "fieldTrials": args.field_trials or None,
        "media": not args.no_media,
        "dataChannel": args.data_channel,
        "device": args.device,
        "transport": args.transport,
        "connectMillis": connect_ms,
        "mediaSeconds": args.seconds,
        "tlsVersion": versions.pop() if len(versions) == 1 else None,
        "candidateTypes": {
            "robot": [robot.get("localCandidateType"), robot.get("remoteCandidateType")],
            "app": [app.get("localCandidateType"), app.get("remoteCandidateType")],
        },
        "videoFramesDecoded": app.get("videoFramesDecoded", 0),
        "robot": robot,
        "app": app,
        "connectionStates": state["states"],
        "afterClose": closed,
        # Unix times around the hang-up: the relay's records of it fall after closingAt.
        "closingAt": round(closing_at, 3),
        "closedAt": round(closed_at, 3),
        "notes": state["notes"],
    }
    text = json.dumps(result, sort_keys=True)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
