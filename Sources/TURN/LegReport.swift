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
    public var dtlsClientHelloAt: Int64?
    public var dtlsChangeCipherSpecAt: Int64?
    public var requests: [(TransactionID, Int64)]
    public var responses: [(TransactionID, Int64)]
    public var signal: SignalSummary
    /// Monotonic microseconds of the last relayed packet (0: none yet); all times here are.
    public var lastActivity: Int64
    /// Set when the allocation is gone, with why.
    public var ended: TURNEvent.DeletionReason?

    public var packets: Int { streams.reduce(0) { $0 + $1.packets } }
}

extension TURNEngine {
    /// Reports of every paired allocation (call about once a second; drains Binding transactions).
    public mutating func legReports() -> [LegReport] {
        allocations.values.compactMap { $0.pairing == nil ? nil : $0.legReport(ended: nil) }
    }
}

extension Allocation {
    func legReport(ended: TURNEvent.DeletionReason?) -> LegReport? {
        guard let pairing, var analyzer else { return nil }
        let (requests, responses) = analyzer.drainTransactions()
        self.analyzer = analyzer
        return LegReport(
            legID: legID, device: pairing.device, role: pairing.role, transport: fiveTuple.transport, startedUnix: createdUnix,
            streams: Array(analyzer.streams.values), rtcpPackets: analyzer.rtcpPackets, dtlsClientHelloAt: analyzer.dtlsClientHelloAt,
            dtlsChangeCipherSpecAt: analyzer.dtlsChangeCipherSpecAt, requests: requests, responses: responses, signal: signal,
            lastActivity: analyzer.lastActivity, ended: ended)
    }
}
