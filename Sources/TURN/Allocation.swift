import STUN

/// One allocation (RFC 8656 §2.2): the relayed transport addresses a client holds, with its
/// permissions and channel bindings. Lives in one worker's engine.
public final class Allocation {
    /// Where the client is: changed only by a mobility move (RFC 8016, TURNEngine+Mobility).
    public internal(set) var fiveTuple: FiveTuple
    /// The socket the client's packets arrive on and its replies leave from.
    public internal(set) var clientSocket: SocketID
    public let username: String
    /// Long-term key the allocation was created with; later requests must use the same user (441).
    let key: [UInt8]
    /// Its place in the pairing registry, when pairing is enforced.
    var pairing: PairingEntry?
    /// RFC 8016: the Allocate asked for a MOBILITY-TICKET; `generation` is the ticket's that may
    /// move it next (each move spends one), `moves` how often it moved.
    var mobile = false
    var ticketGeneration: UInt32 = 0
    public internal(set) var moves = 0
    /// With pairing enforced: the exact partner addresses it was allowed to reach. Permissions are
    /// per IP (RFC 8656 §9), and on one relay every relayed address shares the IP, so the data path
    /// also checks the port against this set.
    var pairedPeers: Set<TransportAddress> = []
    /// Addresses another member of the fleet confirmed as this device's partner, and those it
    /// refused, with until when the answer holds (TURNEngine+Fleet).
    var remotePartners: [TransportAddress: Int64] = [:]
    var remoteRefusals: [TransportAddress: Int64] = [:]
    /// Session analytics of what the client relays, for paired allocations only.
    var analyzer: TrafficAnalyzer?
    /// Link telemetry the robot reported in its Refresh requests since the last leg report
    /// (sessions aggregate it; at most `maxTelemetry` wait).
    var telemetry: [LinkTelemetry] = []
    static let maxTelemetry = 64
    let legID = UInt64.random(in: 1...UInt64.max)
    /// The `max-bps` bucket: bytes it may still send to peers, and when it was last filled (µs).
    var budget = 0
    var budgetFilled: Int64 = .min
    var createdUnix: Int64 = 0
    /// One relayed endpoint per address family (dual allocation holds two).
    public internal(set) var relays: [RelayEndpoint]
    public internal(set) var expiry: Int64
    public let created: Int64

    /// Permissions by peer IP (RFC 8656 §9: the port is not part of a permission) → expiry.
    var permissions: [IPAddress: Int64] = [:]
    /// Channel bindings, both ways (RFC 8656 §12).
    var channelsByNumber: [UInt16: Channel] = [:]
    var channelsByPeer: [TransportAddress: UInt16] = [:]

    /// The Allocate transaction and its success response, replayed on retransmission (§7.2).
    let allocateTransaction: TransactionID
    var allocateResponse: [UInt8] = []

    struct Channel {
        var peer: TransportAddress
        /// The binding carries data until then.
        var expiry: Int64
    }

    init(
        fiveTuple: FiveTuple, clientSocket: SocketID, username: String, key: [UInt8], relays: [RelayEndpoint],
        expiry: Int64, created: Int64, allocateTransaction: TransactionID, pairing: PairingEntry? = nil
    ) {
        self.pairing = pairing
        if pairing != nil { analyzer = TrafficAnalyzer() }
        self.fiveTuple = fiveTuple
        self.clientSocket = clientSocket
        self.username = username
        self.key = key
        self.relays = relays
        self.expiry = expiry
        self.created = created
        self.allocateTransaction = allocateTransaction
    }

    /// Takes `bytes` from the `max-bps` bucket of `rate` bytes per second, refilled for the time
    /// since it was last filled (at most one second's worth: the burst); false when they do not fit.
    @inline(__always)
    func spend(_ bytes: Int, rate: Int, now: Int64) -> Bool {
        let elapsed = now &- budgetFilled
        if elapsed < 0 || elapsed >= 1_000_000 {
            budget = rate
            budgetFilled = now
        } else {
            let refill = Int(elapsed) * rate / 1_000_000
            if refill > 0 {
                budget = Swift.min(rate, budget + refill)
                budgetFilled = now
            }
        }
        guard budget >= bytes else { return false }
        budget -= bytes
        return true
    }

    /// The relayed endpoint for a peer's family (§9.1: 443 if there is none).
    @inline(__always)
    func relay(for family: AddressFamily) -> RelayEndpoint? {
        for r in relays where r.address.family == family { return r }
        return nil
    }

    /// Whether data may pass to or from `peer`: a live permission and, under pairing, a partner.
    @inline(__always)
    func mayExchange(with peer: TransportAddress, now: Int64) -> Bool {
        hasPermission(peer.ip, now: now) && (pairing == nil || pairedPeers.contains(peer))
    }

    @inline(__always)
    func hasPermission(_ ip: IPAddress, now: Int64) -> Bool {
        guard let e = permissions[ip] else { return false }
        return e > now
    }

    /// Drops expired permissions, and channel bindings five minutes after they expired
    /// (RFC 8656 §12: a number or peer may not be rebound to another until then).
    /// Returns whether anything was dropped.
    @discardableResult
    func sweep(now: Int64) -> Bool {
        let before = permissions.count + channelsByNumber.count
        if permissions.values.contains(where: { $0 <= now }) { permissions = permissions.filter { $0.value > now } }
        let stale = channelsByNumber.filter { $0.value.expiry + TURNEngineConfiguration.channelQuarantineMillis <= now }
        for (number, channel) in stale {
            channelsByNumber[number] = nil
            channelsByPeer[channel.peer] = nil
        }
        return permissions.count + channelsByNumber.count != before
    }
}
