import STUN

/// Minimum, average and maximum of each link figure over a session.
public struct SignalSummary: Sendable, Codable, Equatable {
    public struct Range: Sendable, Codable, Equatable {
        public var min: Double
        public var avg: Double
        public var max: Double
        public var samples: Int
    }

    var sums: [String: (min: Double, sum: Double, max: Double, n: Int)] = [:]
    public private(set) var samples = 0
    /// The last operator code and band/radio type reported (categories, not averaged).
    public var operatorCode: String?
    public var wifiBand: UInt8?
    public var radioType: UInt8?

    public init() {}

    public mutating func add(_ t: LinkTelemetry) {
        samples += 1
        func put(_ key: String, _ v: Double?) {
            guard let v else { return }
            let old = sums[key] ?? (v, 0, v, 0)
            sums[key] = (Swift.min(old.min, v), old.sum + v, Swift.max(old.max, v), old.n + 1)
        }
        put("wifi_rssi_dbm", t.wifiRSSI.map(Double.init))
        put("rsrp_dbm", t.rsrp.map(Double.init))
        put("rsrq_db", t.rsrq.map(Double.init))
        put("sinr_db", t.sinr.map(Double.init))
        if let o = t.operatorCode { operatorCode = o }
        if let b = t.wifiBand { wifiBand = b }
        if let r = t.radioType { radioType = r }
    }

    public mutating func merge(_ other: SignalSummary) {
        for (k, v) in other.sums {
            let old = sums[k] ?? (v.min, 0, v.max, 0)
            sums[k] = (Swift.min(old.min, v.min), old.sum + v.sum, Swift.max(old.max, v.max), old.n + v.n)
        }
        samples += other.samples
        operatorCode = other.operatorCode ?? operatorCode
        wifiBand = other.wifiBand ?? wifiBand
        radioType = other.radioType ?? radioType
    }

    /// Each figure's range, by name (`wifi_rssi_dbm`, `rsrp_dbm`, `rsrq_db`, `sinr_db`).
    public var ranges: [String: Range] {
        sums.mapValues { Range(min: $0.min, avg: (($0.sum / Double($0.n)) * 10).rounded() / 10, max: $0.max, samples: $0.n) }
    }

    enum CodingKeys: String, CodingKey { case ranges, samples, operatorCode, wifiBand, radioType }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(ranges, forKey: .ranges)
        try c.encode(samples, forKey: .samples)
        try c.encodeIfPresent(operatorCode, forKey: .operatorCode)
        try c.encodeIfPresent(wifiBand, forKey: .wifiBand)
        try c.encodeIfPresent(radioType, forKey: .radioType)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let ranges = try c.decode([String: Range].self, forKey: .ranges)
        sums = ranges.mapValues { ($0.min, $0.avg * Double($0.samples), $0.max, $0.samples) }
        samples = try c.decode(Int.self, forKey: .samples)
        operatorCode = try c.decodeIfPresent(String.self, forKey: .operatorCode)
        wifiBand = try c.decodeIfPresent(UInt8.self, forKey: .wifiBand)
        radioType = try c.decodeIfPresent(UInt8.self, forKey: .radioType)
    }

    public static func == (a: SignalSummary, b: SignalSummary) -> Bool { a.ranges == b.ranges && a.samples == b.samples }
}
