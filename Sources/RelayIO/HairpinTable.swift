import STUN
import Synchronization
import TURN

/// Hairpin routes of every worker's UDP allocations, by relayed address. Written on the control
/// plane (allocation, permission, channel changes); read per packet only when a client sends to
/// one of this relay's own relayed addresses.
public final class HairpinTable: Sendable {
    private let routes = Mutex<[TransportAddress: HairpinRoute]>([:])

    public init() {}

    public func publish(_ route: HairpinRoute?, for relayed: [TransportAddress]) {
        routes.withLock { r in for a in relayed { r[a] = route } }
    }

    /// Decided under the lock: the route itself never leaves it, so a packet copies nothing.
    public func delivery(to relayed: TransportAddress, from source: TransportAddress, now: Int64) -> HairpinDelivery {
        routes.withLock { $0[relayed]?.delivery(from: source, now: now) ?? .notOurs }
    }

    public var count: Int { routes.withLock { $0.count } }
}
