import STUN

/// A relay endpoint the I/O layer opened for an allocation: its socket and bound address.
public struct RelayEndpoint: Hashable, Sendable {
    public var socket: SocketID
    public var address: TransportAddress

    public init(socket: SocketID, address: TransportAddress) {
        self.socket = socket
        self.address = address
    }
}

/// Result of asking the I/O layer for a relay endpoint.
public enum RelayOpenResult: Sendable {
    /// Opened; when EVEN-PORT asked for a reservation, the next (odd) port is held under a token
    /// that a later Allocate (from any 5-tuple, on any worker) can claim.
    case opened(RelayEndpoint, reservationToken: UInt64?)
    /// The relay has no address of this family (→ 440).
    case unsupportedFamily
    /// No port left in the range, or the socket could not be opened (→ 508).
    case exhausted
}

/// Result of asking for room for one more allocation.
public enum QuotaResult: Sendable {
    case granted
    /// The user already holds its maximum (→ 486).
    case userQuotaReached
    /// The relay holds its maximum in total (→ 508).
    case totalQuotaReached
}

/// What the engine needs from the outside world, synchronously, when allocations come and go:
/// relay sockets, port reservations and the quota counters shared by every worker. The engine
/// does no I/O itself; tests pass a fake.
public protocol RelayResources: AnyObject {
    func openRelay(family: AddressFamily, evenPort: Bool, reserveNext: Bool) -> RelayOpenResult
    /// The endpoint reserved under `token` (RFC 8656 §7.2 RESERVATION-TOKEN), now owned by the
    /// caller; `nil` if unknown or expired.
    func claimReservation(_ token: UInt64) -> RelayEndpoint?
    func closeRelay(_ endpoint: RelayEndpoint)
    /// A mobility move (RFC 8016): this worker stops reading these relay sockets, which stay open
    /// for the worker that takes the allocation; `takeOver` starts reading them.
    func handOver(_ relays: [RelayEndpoint])
    func takeOver(_ relays: [RelayEndpoint])
    func acquireAllocation(user: String) -> QuotaResult
    func releaseAllocation(user: String)
    /// Pairing (DESIGN §4): allocations announce themselves under their device and role, and look
    /// up their partner's addresses; the registry is shared by every worker.
    func registerPairing(_ entry: PairingEntry)
    func unregisterPairing(_ entry: PairingEntry)
    func partnerAddresses(device: String, role: Identity.Role) -> Set<TransportAddress>
    /// Whether this relay holds any allocation of `device`, in either role (its partner is here:
    /// a fleet must not send it elsewhere).
    func hasAllocations(device: String) -> Bool
    /// The socket this worker asks other members from (answers come back to it); nil without a
    /// fleet channel.
    var fleetSocket: SocketID? { get }
    /// True the first time a fleet question's transaction id is seen (across workers), false for a
    /// replay.
    func firstSight(ofFleetCheck id: TransactionID, nowMillis: Int64) -> Bool
    /// Whether this client was sent elsewhere a moment ago (and came back: it does not follow
    /// 300); notes the redirect otherwise.
    func redirectedBefore(_ key: String, nowMillis: Int64) -> Bool
    /// The hairpin (DESIGN §4): allocations publish how to reach their clients, keyed by their
    /// relayed addresses; a packet for one of those is delivered without the kernel round trip.
    func publishRoute(_ route: HairpinRoute?, for relayed: [TransportAddress])
    /// What the allocation at `relayed` does with a datagram from `source` (`HairpinRoute.delivery`).
    func hairpinDelivery(to relayed: TransportAddress, from source: TransportAddress, now: Int64) -> HairpinDelivery
    /// This worker's UDP listener bound to `server`, to send from.
    func listenerSocket(for server: TransportAddress) -> SocketID?
}
