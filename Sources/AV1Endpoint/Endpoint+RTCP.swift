import AV1Media
import Foundation

/// RTCP beside the media: sender reports with report blocks once a second, and the app's
/// keyframe requests (PLI) after a video loss. The packets themselves are AV1Media's `RTCP`.
extension Endpoint {
    /// RTCP (RFC 3550 §6.4): a compound of a sender report per stream this end sends (NTP time,
    /// RTP time, packet and octet counts), the first carrying report blocks for what it receives.
    func sendRTCP() {
        guard let srtp = srtpOut else { return }
        // A sender report's NTP time is wall-clock time (RFC 3550 §6.4.1), unlike the schedule.
        let ntp = RTCP.ntpTimestamp(unixSeconds: Date().timeIntervalSince1970)
        let blocks = [(remoteAudioSSRC, audioIn), (remoteVideoSSRC, videoIn)].filter { $0.1.packets > 0 }.map {
            RTCP.ReportBlock(ssrc: $0.0, receiving: $0.1)
        }
        var compound = RTCP.SenderReport(
            ssrc: audioSSRC, ntpTimestamp: ntp,
            rtpTimestamp: Self.rtpTime(frames: audioFrame, samplesPerFrame: Double(OpusCodec.frameSamples)),
            packetCount: UInt32(truncatingIfNeeded: report.audioFramesSent), octetCount: UInt32(truncatingIfNeeded: audioOctets),
            reportBlocks: blocks
        ).bytes
        if config.role == .robot {
            compound +=
                RTCP.SenderReport(
                    ssrc: videoSSRC, ntpTimestamp: ntp,
                    rtpTimestamp: Self.rtpTime(frames: videoFrame, samplesPerFrame: 90_000 / Double(config.fps)),
                    packetCount: UInt32(truncatingIfNeeded: videoPackets), octetCount: UInt32(truncatingIfNeeded: videoOctets)
                ).bytes
        }
        guard let protected = srtp.protect(compound, rtcp: true) else { return }
        report.rtcpSent += 1
        send([protected])
    }

    /// The RTP timestamp of the frame about to be sent, for a sender report.
    static func rtpTime(frames: Int, samplesPerFrame: Double) -> UInt32 {
        UInt32(truncatingIfNeeded: Int(Double(frames) * samplesPerFrame))
    }

    /// Sends a PLI for the robot's video, at most every 200 ms.
    func requestKeyframe(now: Double) {
        guard let srtp = srtpOut, now - lastPLI >= 0.2, remoteVideoSSRC != 0 else { return }
        lastPLI = now
        // RTCP requires a compound starting with a report: an empty receiver report, then the PLI.
        let packet =
            RTCP.ReceiverReport(ssrc: audioSSRC).bytes + RTCP.PictureLossIndication(senderSSRC: audioSSRC, mediaSSRC: remoteVideoSSRC).bytes
        guard let protected = srtp.protect(packet, rtcp: true) else { return }
        report.keyframeRequestsSent += 1
        send([protected])
    }

    /// A decrypted compound RTCP packet from the peer; a PLI in it asks for a keyframe.
    func handleRTCP(_ plain: [UInt8]) {
        report.rtcpReceived += 1
        if RTCP.containsPictureLossIndication(plain) {
            report.keyframeRequestsReceived += 1
            keyframeRequested = true
        }
    }
}

extension RTCP.ReportBlock {
    /// What this end has received of one stream, as a report block. The loss figures are since
    /// the stream began, not since the last report as RFC 3550 §6.4.1 has the fraction; no SR
    /// times are echoed (LSR and DLSR 0), so the peer does not compute a round trip from them.
    init(ssrc: UInt32, receiving s: StreamStats) {
        self.init(
            ssrc: ssrc, fractionLost: UInt8(min(255.0, s.lossPercent * 2.56)), cumulativeLost: Int32(clamping: s.lost),
            extendedHighestSequence: s.highestExtended, jitter: UInt32(min(s.jitter, Double(UInt32.max))))
    }
}
