import AV1Media

/// RTCP beside the media: sender reports with report blocks once a second, and the app's
/// keyframe requests (PLI) after a video loss.
extension Endpoint {
    /// RTCP (RFC 3550 §6.4): a compound of a sender report per stream this end sends (NTP time,
    /// RTP time, packet and octet counts), the first carrying report blocks for what it receives.
    func sendRTCP() {
        guard let srtp = srtpOut else { return }
        let now = Self.now()
        let ntpSeconds = UInt32(truncatingIfNeeded: Int64(now) + 2_208_988_800)
        let ntpFraction = UInt32(truncatingIfNeeded: Int64((now - now.rounded(.down)) * 4_294_967_296))
        let blocks = [(remoteAudioSSRC, audioIn), (remoteVideoSSRC, videoIn)].filter { $0.1.packets > 0 }
        func senderReport(_ ssrc: UInt32, frames: Int, samplesPerFrame: Double, packets: Int, octets: Int, withBlocks: Bool)
            -> [UInt8]
        {
            let b = withBlocks ? blocks : []
            var sr: [UInt8] = [0x80 | UInt8(b.count), 200, 0, UInt8(6 + 6 * b.count)]
            sr += bytes32(ssrc) + bytes32(ntpSeconds) + bytes32(ntpFraction)
            sr += bytes32(UInt32(truncatingIfNeeded: Int(Double(frames) * samplesPerFrame)))
            sr += bytes32(UInt32(truncatingIfNeeded: packets)) + bytes32(UInt32(truncatingIfNeeded: octets))
            for (remote, s) in b {
                sr += bytes32(remote)
                let fraction = UInt32(min(255.0, s.lossPercent * 2.56))
                sr += bytes32(fraction << 24 | UInt32(min(s.lost, 0x7F_FFFF)))
                sr += bytes32(s.highestExtended) + bytes32(UInt32(s.jitter)) + bytes32(0) + bytes32(0)
            }
            return sr
        }
        var compound = senderReport(
            audioSSRC, frames: audioFrame, samplesPerFrame: Double(OpusCodec.frameSamples), packets: report.audioFramesSent,
            octets: audioOctets, withBlocks: true)
        if config.role == .robot {
            compound += senderReport(
                videoSSRC, frames: videoFrame, samplesPerFrame: 90_000 / Double(config.fps), packets: videoPackets,
                octets: videoOctets, withBlocks: false)
        }
        guard let protected = srtp.protect(compound, rtcp: true) else { return }
        report.rtcpSent += 1
        send([protected])
    }

    /// Sends a PLI for the robot's video, at most every 200 ms.
    func requestKeyframe(now: Double) {
        guard let srtp = srtpOut, now - lastPLI >= 0.2, remoteVideoSSRC != 0 else { return }
        lastPLI = now
        // RTCP requires a compound starting with a report: an empty receiver report, then the PLI.
        let packet = [0x80, 201, 0, 1] + bytes32(audioSSRC) + [0x81, 206, 0, 2] + bytes32(audioSSRC) + bytes32(remoteVideoSSRC)
        guard let protected = srtp.protect(packet, rtcp: true) else { return }
        report.keyframeRequestsSent += 1
        send([protected])
    }

    /// A decrypted compound RTCP packet from the peer; a PLI in it asks for a keyframe.
    func handleRTCP(_ plain: [UInt8]) {
        report.rtcpReceived += 1
        if Self.containsPLI(plain) {
            report.keyframeRequestsReceived += 1
            keyframeRequested = true
        }
    }

    /// Whether a compound RTCP packet holds a PLI (payload-specific feedback, FMT 1).
    static func containsPLI(_ rtcp: [UInt8]) -> Bool {
        var at = 0
        while at + 4 <= rtcp.count {
            if rtcp[at + 1] == 206 && rtcp[at] & 0x1F == 1 { return true }
            at += 4 + 4 * (Int(rtcp[at + 2]) << 8 | Int(rtcp[at + 3]))
        }
        return false
    }
}

func bytes32(_ v: UInt32) -> [UInt8] {
    [UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)]
}
