import STUN

/// Where the engine puts its effects: datagrams to send (in one preallocated byte arena, so the
/// packet path allocates nothing) and events for logs and metrics. The I/O layer sends and clears
/// it after each batch; tests read it.
public final class Outbox {
    public struct Datagram: Sendable {
        /// Listener, connection or relay socket to send from.
        public var socket: SocketID
        /// Where to (ignored by connection-oriented sockets).
        public var destination: TransportAddress
        public var offset: Int
        public var length: Int
    }

    public let storage: UnsafeMutableRawBufferPointer
    public private(set) var used = 0
    public private(set) var datagrams: [Datagram] = []
    public var events: [TURNEvent] = []
    /// Final reports of paired allocations that ended (session analytics).
    public var legs: [LegReport] = []
    /// Mobility moves whose allocation another worker holds (TURNEngine+Mobility): the I/O
    /// layer takes them there.
    public var moves: [MobilityMove] = []
    /// Datagrams dropped because the arena was full (the I/O layer flushes before that happens).
    public private(set) var overflows = 0

    /// The largest single datagram the engine writes.
    public static let maxDatagram = 65_600

    public init(capacity: Int = 512 * 1024) {
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(capacity, 2 * Outbox.maxDatagram), alignment: 16)
        datagrams.reserveCapacity(256)
        events.reserveCapacity(16)
    }

    deinit {
        // Media passed through here: clear it before the memory goes back to the allocator.
        storage.initializeMemory(as: UInt8.self, repeating: 0)
        storage.deallocate()
    }

    /// Whether another maximal datagram is sure to fit.
    public var hasRoom: Bool { storage.count - used >= Outbox.maxDatagram && datagrams.count < 1024 }

    /// Lets `body` write up to `maxLength` bytes, then queues what it wrote.
    public func write(
        socket: SocketID, to destination: TransportAddress, maxLength: Int,
        _ body: (UnsafeMutableRawBufferPointer) -> Int
    ) {
        guard storage.count - used >= maxLength else {
            overflows += 1
            return
        }
        let region = UnsafeMutableRawBufferPointer(rebasing: storage[used..<(used + maxLength)])
        let n = body(region)
        commit(socket: socket, destination: destination, length: n)
    }

    func commit(socket: SocketID, destination: TransportAddress, length: Int) {
        datagrams.append(Datagram(socket: socket, destination: destination, offset: used, length: length))
        used += (length + 15) & ~15
    }

    /// Queues bytes built elsewhere (control-plane responses).
    public func append(socket: SocketID, to destination: TransportAddress, bytes: [UInt8]) {
        write(socket: socket, to: destination, maxLength: bytes.count) { out in
            bytes.withUnsafeBytes { out.copyMemory(from: $0) }
            return bytes.count
        }
    }

    /// The bytes of one queued datagram.
    public func bytes(of d: Datagram) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: storage[d.offset..<(d.offset + d.length)])
    }

    /// A copy of a queued datagram (tests).
    public func copy(_ index: Int) -> [UInt8] { Array(bytes(of: datagrams[index])) }

    /// Forgets everything queued. The arena is overwritten by the next batch; `scrub()` zeroes it.
    public func removeAll() {
        datagrams.removeAll(keepingCapacity: true)
        events.removeAll(keepingCapacity: true)
        legs.removeAll()
        moves.removeAll()
        used = 0
    }

    /// Zeroes the part of the arena used since the last scrub (after the last batch of a wake-up,
    /// so that no payload lingers in memory while the worker sleeps).
    public func scrub(upTo high: Int) {
        UnsafeMutableRawBufferPointer(rebasing: storage[0..<min(high, storage.count)]).initializeMemory(as: UInt8.self, repeating: 0)
    }
}

/// What the engine tells the outside world, for logs and metrics. No addresses, no usernames,
/// no payload: the server decides what of this may be logged.
public enum TURNEvent: Sendable, Equatable {
    case allocationCreated(transport: TransportProtocol, families: Int)
    case allocationDeleted(reason: DeletionReason, lifetimeSeconds: Int64)
    case requestFailed(method: STUNMethod, code: Int)
    case peerDenied(PeerPolicy.Denial)
    /// A mobile allocation moved to a client's new 5-tuple (RFC 8016), from this worker or another.
    case allocationMoved(acrossWorkers: Bool)
    /// Leg reports another member of the fleet sent to this relay, the device's home (authentic,
    /// fresh, new): the encoded reports, the sender's monotonic clock when it sent them, and this
    /// relay's when they arrived (µs). They hold no address.
    case fleetLegs([UInt8], senderClock: Int64, receivedAt: Int64)

    public enum DeletionReason: String, Sendable {
        case refreshedToZero = "refresh", expired, connectionClosed = "connection-closed", shutdown
    }
}

/// Why the engine dropped a packet without relaying it.
public enum DropReason: Int, Sendable, CaseIterable {
    /// Not STUN, not ChannelData, or a STUN message that does not parse.
    case malformed
    /// A UDP datagram larger than a receive slot (4096 bytes), dropped by the I/O layer.
    case tooBig
    /// Data from a client without an allocation, or to a relay socket nobody owns any more.
    case noAllocation
    /// Data to or from a peer the allocation has no live permission for.
    case noPermission
    /// ChannelData on a channel number that is not bound (or whose binding expired).
    case noChannel
    /// Under pairing, data to or from an address that is not the device's partner.
    case notPartner
    /// Responses and indications that need nothing (Binding keepalives, stray responses).
    case unexpected
    /// Fleet-channel messages that are forged, stale, replayed or unasked for.
    case fleetRefused
    /// Over the allocation's `max-bps` to its peers.
    case quota
    /// A request from a source over its `source-rate` of 401s and Allocates (SourceLimiter).
    case rateLimited
}

/// Counters the engine keeps; the server reads them for metrics.
public struct TURNStats: Sendable {
    public var packetsFromClients = 0
    public var packetsToClients = 0
    public var packetsToPeers = 0
    public var packetsFromPeers = 0
    public var bytesToPeers = 0
    public var bytesToClients = 0
    /// Data plane drops by reason (`DropReason`'s raw values are the slots).
    public var drops = InlineArray<10, Int>(repeating: 0)
    public var requests = 0
    public var errorResponses = 0
    /// Packets for another allocation of this relay, delivered in process.
    public var hairpinned = 0
    /// The fleet channel: questions asked and answered, questions nobody answered in time, and
    /// messages dropped as forged, stale, replayed or unasked for.
    public var fleetChecksSent = 0
    public var fleetChecksAnswered = 0
    public var fleetChecksTimedOut = 0

    public init() {}

    /// Packets dropped for `reason`.
    public subscript(dropped reason: DropReason) -> Int {
        get { drops[reason.rawValue] }
        set { drops[reason.rawValue] = newValue }
    }

    /// Every drop, whatever its reason.
    public var dropped: Int { DropReason.allCases.reduce(0) { $0 + drops[$1.rawValue] } }
    public var malformed: Int { self[dropped: .malformed] }
    public var tooBig: Int { self[dropped: .tooBig] }
    public var fleetMessagesRefused: Int { self[dropped: .fleetRefused] }

    public static func + (a: TURNStats, b: TURNStats) -> TURNStats {
        var s = a
        s.packetsFromClients += b.packetsFromClients
        s.packetsToClients += b.packetsToClients
        s.packetsToPeers += b.packetsToPeers
        s.packetsFromPeers += b.packetsFromPeers
        s.bytesToPeers += b.bytesToPeers
        s.bytesToClients += b.bytesToClients
        s.drops += b.drops
        s.requests += b.requests
        s.errorResponses += b.errorResponses
        s.hairpinned += b.hairpinned
        s.fleetChecksSent += b.fleetChecksSent
        s.fleetChecksAnswered += b.fleetChecksAnswered
        s.fleetChecksTimedOut += b.fleetChecksTimedOut
        return s
    }
}
