import AV1Media

/// Media: Opus audio from both ends, VP8 video from the robot (RFC 7741), as RTP protected with
/// SRTP; and what arrives, decrypted, depacketized, decoded and measured.
extension Endpoint {
    func rtp(_ payloadType: UInt8, marker: Bool, sequence: inout UInt16, timestamp: UInt32, ssrc: UInt32, payload: [UInt8]) -> [UInt8] {
        defer { sequence &+= 1 }
        var packet = RTPPacket(
            payloadType: payloadType, marker: marker, sequence: sequence, timestamp: timestamp, ssrc: ssrc, payload: payload)
        packet.sendTimeMicros = UInt64(Self.now() * 1_000_000)
        return packet.bytes
    }

    func sendAudio() {
        guard let srtp = srtpOut, let packet = opus.encode(Synthetic.tone(frame: audioFrame, hertz: config.role == .robot ? 440 : 660))
        else { return }
        let ts = UInt32(truncatingIfNeeded: audioFrame * OpusCodec.frameSamples)
        audioFrame += 1
        let bytes = rtp(111, marker: false, sequence: &audioSequence, timestamp: ts, ssrc: audioSSRC, payload: packet)
        guard let protected = srtp.protect(bytes) else { return report.srtpProtectFailures += 1 }
        report.audioFramesSent += 1
        report.rtpPacketsSent += 1
        audioOctets += packet.count
        send([protected], media: true)
    }

    func sendVideo() {
        guard let srtp = srtpOut, let encoder = vp8Encoder else { return }
        let picture = Synthetic.picture(frame: videoFrame, width: config.width, height: config.height)
        let ts = UInt32(truncatingIfNeeded: videoFrame * 90_000 / config.fps)
        let keyframe = videoFrame % (config.fps * 2) == 0 || keyframeRequested
        keyframeRequested = false
        videoFrame += 1
        guard let frame = encoder.encode(picture, pts: Int64(videoFrame), forceKeyframe: keyframe) else { return }
        report.videoFramesSent += 1
        let parts = VP8Payload.packetize(frame.data, maxPayload: 1100)
        for (i, part) in parts.enumerated() {
            let bytes = rtp(96, marker: i == parts.count - 1, sequence: &videoSequence, timestamp: ts, ssrc: videoSSRC, payload: part)
            guard let protected = srtp.protect(bytes) else {
                report.srtpProtectFailures += 1
                continue
            }
            report.rtpPacketsSent += 1
            videoPackets += 1
            videoOctets += part.count
            send([protected], media: true)
        }
    }

    /// An SRTP or SRTCP packet from the peer. Which of the two it is, the second byte says
    /// (RFC 5761 §4): an RTCP packet type, 200–206, where RTP would have payload types 72–78,
    /// which RTP and RTCP on one port must not use.
    func handleSRTP(_ datagram: [UInt8]) {
        guard let srtp = srtpIn, datagram.count >= 2 else { return }
        let rtcp = (200...206).contains(Int(datagram[1]))
        guard let plain = srtp.unprotect(datagram, rtcp: rtcp) else { return report.srtpUnprotectFailures += 1 }
        if rtcp { return handleRTCP(plain) }
        guard let p = RTPPacket(plain) else { return }
        let now = Self.now()
        let delay = p.sendTimeMicros.map { (now * 1_000_000 - Double($0)) / 1000 }
        switch p.payloadType {
        case 111:
            remoteAudioSSRC = p.ssrc
            audioIn.record(sequence: p.sequence, timestamp: p.timestamp, arrival: now, delayMillis: delay, size: datagram.count)
            audioIn.framesComplete += 1
            if opus.decode(p.payload) != nil { audioIn.framesDecoded += 1 } else { audioIn.decodeErrors += 1 }
        case 96:
            let gap = videoIn.packets > 0 && p.sequence != UInt16(truncatingIfNeeded: videoIn.highestExtended) &+ 1
            remoteVideoSSRC = p.ssrc
            videoIn.record(sequence: p.sequence, timestamp: p.timestamp, arrival: now, delayMillis: delay, size: datagram.count)
            if gap { requestKeyframe(now: now) }
            if let frame = depacketizer.push(p), let decoder = vp8Decoder {
                videoIn.framesComplete += 1
                do {
                    if try decoder.decode(frame) != nil { videoIn.framesDecoded += 1 }
                } catch {
                    videoIn.decodeErrors += 1
                    requestKeyframe(now: now)
                }
            }
        case 110:
            if p.payload == plaintextCanary { report.canariesReceived += 1 }
        default:
            report.unknownDatagrams += 1
        }
    }
}
