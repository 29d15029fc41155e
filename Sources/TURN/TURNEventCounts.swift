import STUN

extension InlineArray where Element == Int {
    /// Adds `b` slot by slot (summing workers' counters).
    public static func += (a: inout Self, b: Self) { for i in a.indices { a[i] += b[i] } }
    /// The slots as an array (off the packet path).
    public var elements: [Int] { indices.map { self[$0] } }
}

/// The engine's events counted by kind, for metrics: refusals by method and error code,
/// allocations created by transport and ended by reason, peers denied by class. Fixed-size and
/// inline (no heap), kept by each worker on its own thread and read with its other counters.
public struct TURNEventCounts: Sendable {
    /// The methods and codes refusals are counted by; anything else is the last slot, `other`.
    public static let methods: [(STUNMethod, String)] = [
        (.binding, "binding"), (.allocate, "allocate"), (.refresh, "refresh"), (.createPermission, "create_permission"),
        (.channelBind, "channel_bind"),
    ]
    public static let codes = [400, 401, 403, 405, 420, 437, 438, 440, 441, 442, 443, 446, 447, 486, 500, 508]
    static let methodSlots = 6
    static let codeSlots = 17

    public var refusals = InlineArray<102, Int>(repeating: 0)
    public var allocationsCreated = InlineArray<3, Int>(repeating: 0)
    public var allocationsEnded = InlineArray<4, Int>(repeating: 0)
    public var peersDenied = InlineArray<12, Int>(repeating: 0)
    /// Mobility moves (RFC 8016): within one worker, across workers.
    public var allocationsMoved = InlineArray<2, Int>(repeating: 0)

    public init() {}

    /// The deletion reasons and denial classes in slot order.
    public static let endReasons: [TURNEvent.DeletionReason] = [.refreshedToZero, .expired, .connectionClosed, .shutdown]
    public static let denials = PeerPolicy.Denial.allCases

    public mutating func count(_ events: [TURNEvent]) {
        for event in events {
            switch event {
            case .requestFailed(let method, let code):
                let m = Self.methods.firstIndex { $0.0 == method } ?? Self.methodSlots - 1
                let c = Self.codes.firstIndex(of: code) ?? Self.codeSlots - 1
                refusals[m * Self.codeSlots + c] += 1
            case .allocationCreated(let transport, _):
                allocationsCreated[Int(transport.rawValue)] += 1
            case .allocationDeleted(let reason, _):
                allocationsEnded[Self.endReasons.firstIndex(of: reason) ?? 0] += 1
            case .peerDenied(let denial):
                peersDenied[Self.denials.firstIndex(of: denial) ?? 0] += 1
            case .allocationMoved(let across):
                allocationsMoved[across ? 1 : 0] += 1
            case .fleetLegs:
                break
            }
        }
    }

    /// Refusals of `method` slot with `code` slot (the last of each is `other`).
    public func refusals(method: Int, code: Int) -> Int { refusals[method * Self.codeSlots + code] }

    public static func + (a: TURNEventCounts, b: TURNEventCounts) -> TURNEventCounts {
        var s = a
        s.refusals += b.refusals
        s.allocationsCreated += b.allocationsCreated
        s.allocationsEnded += b.allocationsEnded
        s.peersDenied += b.peersDenied
        s.allocationsMoved += b.allocationsMoved
        return s
    }
}

/// Live allocations by client transport and relayed address family (`AllocationKinds.families`).
public struct AllocationKinds: Sendable {
    public static let transports: [TransportProtocol] = [.udp, .tcp, .tls]
    /// Relayed families: IPv4 only, IPv6 only, both (RFC 8656 §7.2 dual allocation).
    public static let families = ["ipv4", "ipv6", "dual"]
    public var counts = InlineArray<9, Int>(repeating: 0)

    public init() {}

    /// Counts `allocation` in (`by` 1, when it is made) or out (-1, when it is deleted).
    mutating func count(_ allocation: Allocation, by n: Int) {
        let v4 = allocation.relays.contains { $0.address.family == .ipv4 }
        let v6 = allocation.relays.contains { $0.address.family == .ipv6 }
        counts[Int(allocation.fiveTuple.transport.rawValue) * 3 + (v4 && v6 ? 2 : v6 ? 1 : 0)] += n
    }

    public func count(transport: Int, family: Int) -> Int { counts[transport * 3 + family] }

    public static func + (a: AllocationKinds, b: AllocationKinds) -> AllocationKinds {
        var s = a
        s.counts += b.counts
        return s
    }
}
