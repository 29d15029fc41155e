import STUN
import Synchronization
import TURN

/// Which allocations each device has, by role, across every worker (DESIGN §4). Consulted on
/// CreatePermission and ChannelBind only, never per packet.
public final class PairingRegistry: Sendable {
    private let entries = Mutex<[String: [PairingEntry]]>([:])

    public init() {}

    public func register(_ entry: PairingEntry) {
        entries.withLock { $0[entry.device, default: []].append(entry) }
    }

    public func unregister(_ entry: PairingEntry) {
        entries.withLock { e in
            guard var list = e[entry.device], let i = list.firstIndex(of: entry) else { return }
            list.remove(at: i)
            e[entry.device] = list.isEmpty ? nil : list
        }
    }

    public func addresses(device: String, role: Identity.Role) -> Set<TransportAddress> {
        entries.withLock { e in Set((e[device] ?? []).filter { $0.role == role }.flatMap(\.addresses)) }
    }

    public func contains(device: String) -> Bool { entries.withLock { $0[device] != nil } }

    public var devices: Int { entries.withLock { $0.count } }
}
