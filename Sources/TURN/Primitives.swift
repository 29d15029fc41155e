import STUN

/// Transports a client can reach the relay over (RFC 8656 §3.1). The relayed side is always UDP.
public enum TransportProtocol: UInt8, Hashable, Sendable, CustomStringConvertible {
    case udp, tcp, tls

    public var description: String {
        switch self {
        case .udp: "udp"
        case .tcp: "tcp"
        case .tls: "tls"
        }
    }

    /// Stream transports pad ChannelData to four bytes (RFC 8656 §12.5).
    public var isStream: Bool { self != .udp }
}

/// The I/O layer's handle for a socket or connection; opaque to the engine.
public typealias SocketID = Int32

/// Identifies an allocation (RFC 8656 §2: client address, server address, transport).
public struct FiveTuple: Hashable, Sendable {
    public var client: TransportAddress
    public var server: TransportAddress
    public var transport: TransportProtocol

    public init(client: TransportAddress, server: TransportAddress, transport: TransportProtocol) {
        self.client = client
        self.server = server
        self.transport = transport
    }
}

/// The engine's notion of now: a monotonic clock for lifetimes and the wall clock for
/// credentials that carry a Unix expiry. Tests pass explicit instants.
public struct TURNTime: Sendable, Hashable {
    /// Monotonic milliseconds (any origin).
    public var millis: Int64
    /// Seconds since the Unix epoch.
    public var unixSeconds: Int64
    /// Monotonic microseconds, the same clock as `millis` (session analytics time packets finer).
    public var micros: Int64

    public init(millis: Int64, unixSeconds: Int64, micros: Int64? = nil) {
        self.millis = millis
        self.unixSeconds = unixSeconds
        self.micros = micros ?? millis * 1000
    }

    /// The same instant moved forward by `seconds`.
    public func adding(seconds: Int64) -> TURNTime {
        TURNTime(millis: millis + seconds * 1000, unixSeconds: unixSeconds + seconds, micros: micros + seconds * 1_000_000)
    }
}

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
    func acquireAllocation(user: String) -> QuotaResult
    func releaseAllocation(user: String)
    /// Pairing (DESIGN §4): allocations announce themselves under their device and role, and look
    /// up their partner's addresses; the registry is shared by every worker.
    func registerPairing(_ entry: PairingEntry)
    func unregisterPairing(_ entry: PairingEntry)
    func partnerAddresses(device: String, role: Identity.Role) -> Set<TransportAddress>
    /// The hairpin (DESIGN §4): allocations publish how to reach their clients, keyed by their
    /// relayed addresses; a packet for one of those is delivered without the kernel round trip.
    func publishRoute(_ route: HairpinRoute?, for relayed: [TransportAddress])
    /// What the allocation at `relayed` does with a datagram from `source` (`HairpinRoute.delivery`).
    func hairpinDelivery(to relayed: TransportAddress, from source: TransportAddress, now: Int64) -> HairpinDelivery
    /// This worker's UDP listener bound to `server`, to send from.
    func listenerSocket(for server: TransportAddress) -> SocketID?
}
