import STUN

/// One allocation's side of a session, as the engine last saw it: the input of session records.
/// Cumulative counters; Binding transactions are the ones seen since the previous report.
public struct LegReport: Sendable {
    public var legID: UInt64
    public var device: String
    public var role: Identity.Role
    public var transport: TransportProtocol
    public var startedUnix: Int64
    public var streams: [TrafficAnalyzer.Stream]
    public var rtcpPackets: Int
    /// This side's current DTLS handshake: its first hello, and when it showed the handshake
    /// complete (DTLS 1.2 or 1.3; `TrafficAnalyzer.observeDTLS`).
    public var dtlsStartedAt: Int64?
    public var dtlsCompletedAt: Int64?
    public var requests: [(TransactionID, Int64)]
    public var responses: [(TransactionID, Int64)]
    /// Link telemetry reported since the previous report (robot legs).
    public var telemetry: [LinkTelemetry]
    /// Monotonic microseconds of the last relayed packet (0: none yet); all times here are.
    public var lastActivity: Int64
    /// Set when the allocation is gone, with why and when.
    public var ended: TURNEvent.DeletionReason?
    public var endedAt: Int64?
    /// The partner is on another member of the fleet: the report goes to the device's home.
    public var remotePartner = false
    /// Mobility (RFC 8016): moves to a new 5-tuple, and the longest silence one caused (µs).
    public var moves = 0
    public var longestMoveGap: Int64 = 0

    public var packets: Int { streams.reduce(0) { $0 + $1.packets } }

    public init(
        legID: UInt64, device: String, role: Identity.Role, transport: TransportProtocol, startedUnix: Int64,
        streams: [TrafficAnalyzer.Stream], rtcpPackets: Int, dtlsStartedAt: Int64?, dtlsCompletedAt: Int64?,
        requests: [(TransactionID, Int64)], responses: [(TransactionID, Int64)], telemetry: [LinkTelemetry], lastActivity: Int64,
        ended: TURNEvent.DeletionReason?, endedAt: Int64?, remotePartner: Bool = false, moves: Int = 0, longestMoveGap: Int64 = 0
    ) {
        self.legID = legID
        self.device = device
        self.role = role
        self.transport = transport
        self.startedUnix = startedUnix
        self.streams = streams
        self.rtcpPackets = rtcpPackets
        self.dtlsStartedAt = dtlsStartedAt
        self.dtlsCompletedAt = dtlsCompletedAt
        self.requests = requests
        self.responses = responses
        self.telemetry = telemetry
        self.lastActivity = lastActivity
        self.ended = ended
        self.endedAt = endedAt
        self.remotePartner = remotePartner
        self.moves = moves
        self.longestMoveGap = longestMoveGap
    }
}

extension TURNEngine {
    /// Reports of every paired allocation (call about once a second; drains Binding transactions).
    public mutating func legReports() -> [LegReport] {
        (Array(allocations.values) + orphans.values).compactMap { $0.pairing == nil ? nil : $0.legReport(ended: nil) }
    }
}

extension Allocation {
    func legReport(ended: TURNEvent.DeletionReason?, at now: Int64? = nil) -> LegReport? {
        guard let pairing, var analyzer else { return nil }
        let (requests, responses) = analyzer.drainTransactions()
        self.analyzer = analyzer
        let telemetry = self.telemetry
        self.telemetry.removeAll(keepingCapacity: true)
        return LegReport(
            legID: legID, device: pairing.device, role: pairing.role, transport: fiveTuple.transport, startedUnix: createdUnix,
            streams: Array(analyzer.streams.values), rtcpPackets: analyzer.rtcpPackets, dtlsStartedAt: analyzer.dtlsStartedAt,
            dtlsCompletedAt: analyzer.dtlsCompletedAt, requests: requests, responses: responses,
            telemetry: telemetry, lastActivity: analyzer.lastActivity, ended: ended, endedAt: ended == nil ? nil : now,
            remotePartner: !remotePartners.isEmpty, moves: analyzer.moves, longestMoveGap: analyzer.longestMoveGap)
    }
}
