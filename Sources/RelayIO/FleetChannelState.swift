import STUN
import Synchronization
import TURN

/// What the fleet channel needs across workers (control plane, never per packet): the
/// transaction ids of members' questions seen lately (a replay is refused), and the clients
/// redirected lately (one that comes straight back does not follow 300). Entries live a minute.
public final class FleetChannelState: Sendable {
    static let memoryMillis: Int64 = 60_000
    static let capacity = 65_536

    private struct State {
        var seen: [TransactionID: Int64] = [:]
        var redirected: [String: Int64] = [:]
    }
    private let state = Mutex(State())

    public init() {}

    /// True the first time `id` is seen within a minute.
    public func firstSight(_ id: TransactionID, nowMillis: Int64) -> Bool {
        state.withLock { s in
            Self.prune(&s.seen, nowMillis)
            guard s.seen[id].map({ nowMillis - $0 < Self.memoryMillis }) != true else { return false }
            s.seen[id] = nowMillis
            return true
        }
    }

    /// Whether `key` was redirected within the last 30 seconds; notes it otherwise.
    public func redirectedBefore(_ key: String, nowMillis: Int64) -> Bool {
        state.withLock { s in
            Self.prune(&s.redirected, nowMillis)
            if let at = s.redirected[key], nowMillis - at < 30_000 {
                s.redirected[key] = nil
                return true
            }
            s.redirected[key] = nowMillis
            return false
        }
    }

    /// Drops what is older than a minute once a table is full (bounded memory under a flood).
    private static func prune<K>(_ table: inout [K: Int64], _ now: Int64) {
        guard table.count >= capacity else { return }
        table = table.filter { now - $0.value < memoryMillis }
        if table.count >= capacity { table.removeAll() }
    }
}
