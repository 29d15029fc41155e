import Foundation

/// One session record (schema 1; README "Session records"). Names a session and a robot's device
/// id, never an address, a port, a username, an app identity or a payload byte.
public struct SessionRecord: Codable, Sendable, Equatable {
    public static let schemaVersion = 1

    public var schema = SessionRecord.schemaVersion
    /// "interim" while the session lasts, "final" once at its end.
    public var type: String
    public var sessionID: String
    public var deviceID: String
    public var start: String
    /// The end (final) or the time of this record (interim), ISO 8601 UTC.
    public var end: String
    public var durationSeconds: Double
    /// final only: "robot-left", "app-left", "idle", "new-call", "shutdown".
    public var endReason: String?
    /// Transport each side used to reach the relay (udp, tcp, tls).
    public var transports: [String: String]
    /// "robot_to_app" and "app_to_robot", each by stream kind ("audio", "video", "unknown").
    public var directions: [String: [String: StreamSummary]]
    public var rttMillis: RTTSummary
    public var dtls: DTLSSummary
    public var quality: Quality
    public var signal: SignalRecord
    /// By side ("robot", "app"), when a side moved to a new address during the session and kept
    /// its allocation (RFC 8016 mobility): how often, and the longest silence a move caused.
    /// Absent when nobody moved.
    public var mobility: [String: Mobility]? = nil

    public struct Mobility: Codable, Sendable, Equatable {
        public var moves: Int
        public var longestGapMillis: Double

        enum CodingKeys: String, CodingKey {
            case moves
            case longestGapMillis = "longest_gap_ms"
        }
    }

    public struct StreamSummary: Codable, Sendable, Equatable {
        public var streams: Int
        public var packets: Int
        public var bytes: Int
        public var expected: Int
        public var lost: Int
        public var lossPercent: Double
        /// The highest interarrival jitter of the streams of this kind (RFC 3550).
        public var jitterMillis: Double
        public var bitrateKbps: Double
        /// Video only: frames per second, from the RTP marker bit.
        public var frameRate: Double?
        /// 48000 (audio) or 90000 (video), inferred from RTP timestamps against arrival times.
        public var clockRateHz: Double?
    }

    public struct RTTSummary: Codable, Sendable, Equatable {
        public var samples: Int
        public var p50: Double?
        public var p90: Double?
        public var p99: Double?
    }

    public struct DTLSSummary: Codable, Sendable, Equatable {
        public var handshakeSeen: Bool
        public var completed: Bool
        public var handshakeMillis: Double?
    }

    public struct Quality: Codable, Sendable, Equatable {
        public var mos: Double
        public var grade: String
        public var model = "E-model (ITU-T G.107) simplified, see README: Quality score"
    }

    public struct SignalRecord: Codable, Sendable, Equatable {
        public var samples: Int
        public var ranges: [String: Range]
        public var wifiBand: String?
        public var radioType: String?
        public var operatorCode: String?

        public struct Range: Codable, Sendable, Equatable {
            public var min: Double
            public var avg: Double
            public var max: Double
        }
    }

    enum CodingKeys: String, CodingKey {
        case schema, type, start, end, transports, directions, dtls, quality, signal, mobility
        case sessionID = "session_id", deviceID = "device_id", durationSeconds = "duration_s", endReason = "end_reason"
        case rttMillis = "rtt_ms"
    }
}

/// The quality score: a simplified ITU-T G.107 E-model (README "Quality score").
public enum QualityModel {
    /// MOS from packet loss (%), jitter and round-trip time (ms).
    public static func mos(lossPercent: Double, jitterMillis: Double, rttMillis: Double) -> Double {
        // One-way delay: half the RTT, a jitter buffer of twice the jitter, 20 ms of packetization.
        let d = rttMillis / 2 + 2 * jitterMillis + 20
        let id = 0.024 * d + (d > 177.3 ? 0.11 * (d - 177.3) : 0)
        // Opus with loss concealment, treated as G.711 with PLC: Ie = 0, Bpl = 25.1.
        let ieEff = 95 * lossPercent / (lossPercent + 25.1)
        let r = max(0, min(100, 93.2 - id - ieEff))
        let mos = 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r)
        return (min(4.5, max(1, mos)) * 100).rounded() / 100
    }

    public static func grade(_ mos: Double) -> String { mos >= 4.0 ? "good" : mos >= 3.1 ? "fair" : "poor" }
}
