import Foundation

/// p50/p90/p99/max of a series, in milliseconds.
public struct Percentiles: Codable, Sendable {
    public var count: Int
    public var p50: Double?
    public var p90: Double?
    public var p99: Double?
    public var max: Double?

    init(_ values: [Double]) {
        count = values.count
        p50 = percentile(values, 0.5).map(round3)
        p90 = percentile(values, 0.9).map(round3)
        p99 = percentile(values, 0.99).map(round3)
        max = values.max().map(round3)
    }
}

func round3(_ v: Double) -> Double { (v * 1000).rounded() / 1000 }

/// What one endpoint received on one stream.
public struct StreamReport: Codable, Sendable {
    public var packets: Int
    public var bytes: Int
    public var expected: Int
    public var lost: Int
    public var lossPercent: Double
    public var jitterMillis: Double
    public var delayMillis: Percentiles
    public var framesDecoded: Int
    public var framesComplete: Int
    public var decodeErrors: Int

    init(_ s: StreamStats) {
        packets = s.packets
        bytes = s.bytes
        expected = s.expected
        lost = s.lost
        lossPercent = round3(s.lossPercent)
        jitterMillis = round3(s.jitterMillis)
        delayMillis = Percentiles(s.delays)
        framesDecoded = s.framesDecoded
        framesComplete = s.framesComplete
        decodeErrors = s.decodeErrors
    }
}

/// One endpoint's account of a call; `av1sim` prints it as JSON.
public struct EndpointReport: Codable, Sendable {
    public var role: EndpointRole
    public var transport: String
    public var relayedFamily: String?
    /// The relay the endpoint allocated on in the end, and the redirects that led there.
    public var relay: String?
    public var redirects: [String] = []
    /// The long-term credential's password algorithm the relay and the endpoint agreed on
    /// (`SHA-256` or `MD5`, RFC 8489 §9.2).
    public var passwordAlgorithm: String?
    /// Over TLS: whether the relay's certificate was checked (false with `--tls-insecure`).
    public var tlsVerified: Bool?
    public var error: String?
    public var iceConnected = false
    public var iceChecksSent = 0
    public var iceChecksRejected = 0
    public var iceConnectedAfterMillis: Double?
    public var rttMillis = Percentiles([])
    public var dtlsCompleted = false
    public var peerFingerprintVerified = false
    public var srtpProfile: String?
    public var srtpProtectFailures = 0
    public var srtpUnprotectFailures = 0
    public var audioFramesSent = 0
    public var videoFramesSent = 0
    public var rtpPacketsSent = 0
    public var rtcpSent = 0
    public var rtcpReceived = 0
    public var keyframeRequestsSent = 0
    public var keyframeRequestsReceived = 0
    public var impairedDrops = 0
    public var audioReceived: StreamReport?
    public var videoReceived: StreamReport?
    public var canariesSent = 0
    public var canariesReceived = 0
    /// Whether the plaintext canary appeared in any byte the relay forwarded to this endpoint.
    public var canaryVisibleOnWire = false
    public var telemetrySent = 0
    public var bytesToRelay = 0
    public var bytesFromRelay = 0
    public var unknownDatagrams = 0
    /// RFC 8016: the move to a new address, when this end roamed.
    public var roam: RoamReport?

    init(role: EndpointRole, transport: String) {
        self.role = role
        self.transport = transport
    }
}

/// A robot and an app, each with its report, and whether media flowed as it should.
/// One move of an endpoint to a new local address, taking its allocation along.
public struct RoamReport: Codable, Sendable {
    /// Seconds into the call.
    public var atSeconds: Double
    /// The local address before and after (the endpoint's own, never the relay's view).
    public var from: String
    public var to: String
    /// How long the Refresh with the ticket took, the 438 for the old address's nonce included.
    public var refreshMillis: Double
}

public struct PairReport: Codable, Sendable {
    public var robot: EndpointReport
    public var app: EndpointReport
    /// Decoded / sent: video robot → app, audio robot → app, audio app → robot.
    public var videoDelivered: Double
    public var robotAudioDelivered: Double
    public var appAudioDelivered: Double
    public var ok: Bool
    public var problems: [String]

    /// Judges a call: both ends connected, DTLS completed with verified fingerprints, no plaintext
    /// on the wire, and at least `minimumDelivered` of the frames sent each way decoded. With
    /// send-side loss impairment (`loss` > 0), frames lost on purpose are not held against the
    /// call: the fraction is of the frames that arrived whole, and for video each lost frame may
    /// cost one more (decoded against a missing reference until the keyframe a PLI asked for
    /// arrives), so the bar is lowered by twice the loss.
    public init(robot: EndpointReport, app: EndpointReport, minimumDelivered: Double, loss: Double = 0) {
        let impaired = loss > 0
        self.robot = robot
        self.app = app
        func ratio(_ decoded: Int?, _ sent: Int) -> Double { sent > 0 ? round3(Double(decoded ?? 0) / Double(sent)) : 0 }
        videoDelivered = ratio(app.videoReceived?.framesDecoded, robot.videoFramesSent)
        robotAudioDelivered = ratio(app.audioReceived?.framesDecoded, robot.audioFramesSent)
        appAudioDelivered = ratio(robot.audioReceived?.framesDecoded, app.audioFramesSent)
        var problems: [String] = []
        for r in [robot, app] {
            if let e = r.error { problems.append("\(r.role.rawValue): \(e)") }
            if !r.dtlsCompleted { problems.append("\(r.role.rawValue): DTLS did not complete") }
            if r.dtlsCompleted && !r.peerFingerprintVerified { problems.append("\(r.role.rawValue): peer fingerprint mismatch") }
            if r.canaryVisibleOnWire { problems.append("\(r.role.rawValue): plaintext visible in what the relay forwarded") }
        }
        func judged(_ received: StreamReport?, _ sent: Int) -> Double {
            impaired ? ratio(received?.framesDecoded, received?.framesComplete ?? 0) : ratio(received?.framesDecoded, sent)
        }
        let judgements = [
            ("video robot→app", judged(app.videoReceived, robot.videoFramesSent), minimumDelivered * (1 - 2 * loss)),
            ("audio robot→app", judged(app.audioReceived, robot.audioFramesSent), minimumDelivered),
            ("audio app→robot", judged(robot.audioReceived, app.audioFramesSent), minimumDelivered),
        ]
        for (name, value, bar) in judgements where value < bar {
            problems.append("\(name): \(Int(value * 100)) % of frames decoded\(impaired ? " of those that arrived whole" : "")")
        }
        self.problems = problems
        ok = problems.isEmpty
    }

    public var summary: String {
        let video = app.videoReceived
        let audio = app.audioReceived
        return
            "\(ok ? "OK" : "FAILED") \(robot.transport): video \(Int(videoDelivered * 100)) % decoded (\(video?.framesDecoded ?? 0)/\(robot.videoFramesSent)), "
            + "audio \(Int(robotAudioDelivered * 100)) %/\(Int(appAudioDelivered * 100)) %, loss \(video?.lossPercent ?? 0) %, "
            + "jitter \(audio?.jitterMillis ?? 0) ms, rtt p50 \(app.rttMillis.p50 ?? 0) ms, srtp \(app.srtpProfile ?? "none")"
            + (robot.roam.map { ", roamed at \(round3($0.atSeconds)) s (\(round3($0.refreshMillis)) ms)" } ?? "")
            + (problems.isEmpty ? "" : " — " + problems.joined(separator: "; "))
    }
}
