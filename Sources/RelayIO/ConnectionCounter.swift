import STUN
import Synchronization

/// Connection counts across workers, for the total and per-address caps.
public final class ConnectionCounter: Sendable {
    let limits: StreamLimits
    private let counts: Mutex<(total: Int, perAddress: [IPAddress: Int])> = Mutex((0, [:]))

    public init(limits: StreamLimits) { self.limits = limits }

    public var total: Int { counts.withLock { $0.total } }

    func admit(_ ip: IPAddress) -> Bool {
        counts.withLock { c in
            let mine = c.perAddress[ip, default: 0]
            guard c.total < limits.maxConnections, mine < limits.maxConnectionsPerAddress else { return false }
            c.total += 1
            c.perAddress[ip] = mine + 1
            return true
        }
    }

    func release(_ ip: IPAddress) {
        counts.withLock { c in
            c.total -= 1
            let left = c.perAddress[ip, default: 1] - 1
            c.perAddress[ip] = left > 0 ? left : nil
        }
    }
}
