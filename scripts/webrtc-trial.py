#!/usr/bin/env python3
# A manual trial with an independent WebRTC stack (aiortc, from PyPI): a robot (audio + video) and
# an app (audio) in one process, relay-only ICE through av1relay with robot:/app: REST credentials.
# Not part of `make test` (it needs PyPI packages). Usage:
#   python3 -m venv /tmp/rtc && /tmp/rtc/bin/pip install aiortc
#   av1relay --auth-secret S --pairing on --session-log /tmp/s.jsonl --session-idle 2 &
#   /tmp/rtc/bin/python scripts/webrtc-trial.py 3478 S 10    # then read /tmp/s.jsonl
import asyncio, base64, hashlib, hmac, sys, time
from aiortc import RTCPeerConnection, RTCConfiguration, RTCIceServer
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from aiortc.contrib.media import MediaBlackhole

port, secret, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])

def cred(identity):
    user = f"{int(time.time()) + 3600}:{identity}"
    return user, base64.b64encode(hmac.new(secret.encode(), user.encode(), hashlib.sha1).digest()).decode()

def pc(identity):
    u, p = cred(identity)
    return RTCPeerConnection(RTCConfiguration(iceServers=[RTCIceServer(urls=f"turn:127.0.0.1:{port}", username=u, credential=p)],
                                              iceTransportPolicy=RTCIceTransportPolicy.RELAY))

async def main():
    robot, app = pc("robot:webrtc-1"), pc("app:webrtc-1")
    robot.addTrack(AudioStreamTrack()); robot.addTrack(VideoStreamTrack())
    app.addTrack(AudioStreamTrack())
    app.addTransceiver("video", direction="recvonly")
    sinks = []
    for p in (robot, app):
        @p.on("track")
        def on_track(track, p=p):
            b = MediaBlackhole(); b.addTrack(track); sinks.append(b)
    offer = await app.createOffer(); await app.setLocalDescription(offer)
    await robot.setRemoteDescription(app.localDescription)
    answer = await robot.createAnswer(); await robot.setLocalDescription(answer)
    await app.setRemoteDescription(robot.localDescription)
    for b in sinks: await b.start()
    await asyncio.sleep(seconds)
    print("robot", robot.connectionState, "app", app.connectionState)
    for b in sinks: await b.stop()
    await robot.close(); await app.close()

asyncio.run(main())
