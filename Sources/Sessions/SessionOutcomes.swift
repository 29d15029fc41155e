/// Counts of a distribution by upper bound, as a Prometheus histogram holds it: `counts[i]`
/// observations at or below `bounds[i]` and above the bound before (not cumulative), the last
/// slot everything above the highest bound.
public struct Buckets: Sendable, Equatable {
    public let bounds: [Double]
    public private(set) var counts: [Int]
    public private(set) var sum: Double = 0
    public var count: Int { counts.reduce(0, +) }

    public init(_ bounds: [Double]) {
        self.bounds = bounds
        counts = Array(repeating: 0, count: bounds.count + 1)
    }

    /// Buckets filled from counts already taken (the workers' batch sizes).
    public init(bounds: [Double], counts: [Int], sum: Double) {
        self.bounds = bounds
        self.counts = counts + Array(repeating: 0, count: max(0, bounds.count + 1 - counts.count))
        self.sum = sum
    }

    public mutating func observe(_ value: Double) {
        counts[bounds.firstIndex { value <= $0 } ?? bounds.count] += 1
        sum += value
    }
}

/// What ended sessions were like, for metrics: how many ended by each reason, and the
/// distribution of their final figures (base units: seconds, ratios). Records hold no address or
/// user; nothing here names a device.
public struct SessionOutcomes: Sendable, Equatable {
    /// Final records by `end_reason` (`robot-left`, `app-left`, `idle`, `new-call`, `shutdown`).
    public private(set) var ended: [String: Int] = [:]
    public private(set) var mos = Buckets([1, 1.5, 2, 2.5, 3, 3.5, 4, 4.3])
    /// Round-trip time between robot and app through the relay (median of the session).
    public private(set) var rtt = Buckets([0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1])
    /// DTLS handshake, first ClientHello to both sides done.
    public private(set) var dtlsHandshake = Buckets([0.05, 0.1, 0.25, 0.5, 1, 2, 5])
    /// Per direction and media kind: the loss ratio and the interarrival jitter of the session.
    public private(set) var loss: [String: Buckets] = [:]
    public private(set) var jitter: [String: Buckets] = [:]

    public static let lossBounds: [Double] = [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5]
    public static let jitterBounds: [Double] = [0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2]
    /// The end reasons the registry gives (SessionRegistry.tick).
    public static let endReasons = ["robot-left", "app-left", "idle", "new-call", "shutdown"]
    /// The media kinds broken out; anything else the analyzer names counts as `other`.
    public static let kinds: Set<String> = ["audio", "video"]

    public init() {}

    /// Adds a final record (interim ones are not outcomes and are ignored).
    public mutating func add(_ record: SessionRecord) {
        guard record.type == "final" else { return }
        ended[record.endReason ?? "unknown", default: 0] += 1
        mos.observe(record.quality.mos)
        if let p50 = record.rttMillis.p50 { rtt.observe(p50 / 1000) }
        if let ms = record.dtls.handshakeMillis { dtlsHandshake.observe(ms / 1000) }
        for (direction, kinds) in record.directions {
            for (kind, summary) in kinds where summary.packets > 0 {
                let key = direction + "/" + (Self.kinds.contains(kind) ? kind : "other")
                loss[key, default: Buckets(Self.lossBounds)].observe(summary.lossPercent / 100)
                jitter[key, default: Buckets(Self.jitterBounds)].observe(summary.jitterMillis / 1000)
            }
        }
    }
}
