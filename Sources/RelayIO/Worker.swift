import CAV1Shim
import Dispatch
import Glibc
import STUN
import Sockets
import Synchronization
import TURN

/// One data-plane worker: a serial queue whose thread runs an epoll loop over the worker's own
/// SO_REUSEPORT listener(s), the relay sockets of the allocations it owns and its TCP/TLS
/// connections, with its own engine. Packet in → packet out is `loop()` → `receive` → `TURNEngine`
/// → `flush()`: batched `recvmmsg`, the engine writes into a preallocated outbox, and one round's
/// output leaves in batched `sendmmsg` (everything bound for the listener in one call).
///
/// Why a loop and not a DispatchSource per socket: libdispatch re-arms each source and hands each
/// event from its manager thread to a worker thread — about six system calls and two context
/// switches per wake-up, which cost 1.6× coturn's CPU per packet (docs/PERFORMANCE.md). The loop
/// pays one `epoll_wait` per round. Other threads reach the worker through `perform` (a mailbox
/// and an eventfd); everything else runs on the loop's thread, which is what `@unchecked
/// Sendable` promises.
public final class Worker: @unchecked Sendable {
    public let index: Int
    let queue: DispatchQueue
    var engine: TURNEngine<WorkerResources>
    let outbox = Outbox()
    let resources: WorkerResources
    let epoll: Int32
    let wake: Int32
    /// Every instant the worker reads comes from here (tests pass a manual clock).
    let clock: WorkerClock

    static let batch = 32
    static let slotSize = 4096
    static let sendCapacity = 1024
    static let maxEvents = 256
    let recvSlots: UnsafeMutablePointer<av1_datagram>
    let recvBuffers: UnsafeMutableRawBufferPointer
    let sendSlots: UnsafeMutablePointer<av1_datagram>
    let events: UnsafeMutablePointer<av1_event>

    /// What an epoll registration stands for, in the high bits of its data word (fd in the low 32).
    enum Role: UInt64 {
        case wake = 1, udpListener, relay, streamListener, connection, fleet
    }

    struct Listener {
        var fd: Int32
        var address: TransportAddress
        var transport: TransportProtocol
    }
    var udpListeners: [Listener] = []
    var streamListeners: [Listener] = []
    /// Stream listeners not watched until the next tick: accept(2) ran out of file descriptors or
    /// memory, and a level-triggered listener would otherwise wake the loop at once, forever.
    var restingListeners: [Int32] = []
    /// Set from the first such failure until a tick finds no listener resting (told once each way).
    var acceptsPaused = false
    var relays: Set<Int32> = []
    /// The relay's other workers, for mobility moves (`WorkerGroup`).
    var group: WorkerGroup?

    // Streams (Worker+Streams.swift): the connections this worker owns.
    var connections: [Int32: StreamConnection] = [:]
    var streamLimits = StreamLimits()
    var connectionCounter: ConnectionCounter?
    var tlsContext: TLSContext?
    /// What read(2) brought from a stream connection, zeroed after use.
    let streamScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 4096)
    /// The TLS connections' plaintext and ciphertext in passing (its own two buffers).
    let tlsPath = TLSRecordPath()
    /// The engine's events by kind (refusals, allocations, denied peers) and the worker's own
    /// health, for metrics: out of line, so that the worker's hot fields keep their layout.
    final class Counts {
        var events = TURNEventCounts()
        var health = WorkerHealth()
    }
    let counts = Counts()

    /// Called on the worker's thread with each round's events (logging, metrics).
    var onEvents: @Sendable ([TURNEvent]) -> Void = { _ in }
    /// Called on the worker's thread with paired allocations' reports: every second, and the final
    /// one when an allocation ends (session analytics).
    var onLegs: @Sendable ([LegReport]) -> Void = { _ in }
    /// Called on the worker's thread when a resource runs out and when it is back (logging).
    var onPressure: @Sendable (ResourcePressure) -> Void = { _ in }
    private let mailbox = Mutex<[@Sendable () -> Void]>([])
    private var stopping = false
    private var running = false
    private let finished = DispatchSemaphore(value: 0)
    private var nextTick: Int64 = 0

    public init(
        index: Int, configuration: TURNEngineConfiguration, pool: RelayPortPool, quota: AllocationQuota,
        pairing: PairingRegistry = PairingRegistry(), hairpin: HairpinTable = HairpinTable(), clock: WorkerClock = .system,
        fleet: FleetChannelState = FleetChannelState()
    ) {
        self.index = index
        self.clock = clock
        self.queue = DispatchQueue(label: "av1relay.worker.\(index)", qos: .userInteractive)
        self.resources = WorkerResources(pool: pool, quota: quota, pairing: pairing, hairpin: hairpin, fleet: fleet)
        self.engine = TURNEngine(configuration: configuration, resources: resources)
        engine.workerIndex = UInt16(truncatingIfNeeded: index)
        epoll = av1_epoll_create()
        wake = av1_eventfd()
        recvSlots = .allocate(capacity: Worker.batch)
        sendSlots = .allocate(capacity: Worker.sendCapacity)
        events = .allocate(capacity: Worker.maxEvents)
        recvBuffers = .allocate(byteCount: Worker.batch * Worker.slotSize, alignment: 4096)
        for buffer in [recvBuffers, streamScratch] {
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            _ = av1_exclude_from_dump(buffer.baseAddress, buffer.count)
        }
        _ = av1_exclude_from_dump(outbox.storage.baseAddress, outbox.storage.count & ~4095)
        guard let receiveBase = recvBuffers.baseAddress else { preconditionFailure("an allocation of a nonzero size has an address") }
        for i in 0..<Worker.batch {
            recvSlots[i] = av1_datagram()
            recvSlots[i].buffer = receiveBase.advanced(by: i * Worker.slotSize).assumingMemoryBound(to: UInt8.self)
            recvSlots[i].capacity = UInt32(Worker.slotSize)
        }
        sendSlots.initialize(repeating: av1_datagram(), count: Worker.sendCapacity)
        resources.worker = self
        watch(wake, .wake)
    }

    deinit {
        close(epoll)
        close(wake)
        recvBuffers.deallocate()
        streamScratch.deallocate()
        recvSlots.deallocate()
        sendSlots.deallocate()
        events.deallocate()
    }

    // MARK: Life cycle

    /// Starts the loop with bound UDP listeners and bound, listening TCP/TLS sockets.
    public func start(
        udp: [(Int32, TransportAddress)], streams: [(Int32, TransportAddress, TransportProtocol)] = [],
        limits: StreamLimits = StreamLimits(), counter: ConnectionCounter? = nil, tls: TLSContext? = nil, fleetSocket: Int32? = nil,
        onLegs: @escaping @Sendable ([LegReport]) -> Void = { _ in }, onPressure: @escaping @Sendable (ResourcePressure) -> Void = { _ in },
        onEvents: @escaping @Sendable ([TURNEvent]) -> Void
    ) {
        self.onEvents = onEvents
        self.onLegs = onLegs
        self.onPressure = onPressure
        streamLimits = limits
        connectionCounter = counter ?? ConnectionCounter(limits: limits)
        tlsContext = tls
        for (fd, address) in udp {
            udpListeners.append(Listener(fd: fd, address: address, transport: .udp))
            watch(fd, .udpListener)
        }
        if let fleetSocket {
            resources.fleetSocket = fleetSocket
            watch(fleetSocket, .fleet)
        }
        for (fd, address, transport) in streams {
            streamListeners.append(Listener(fd: fd, address: address, transport: transport))
            watch(fd, .streamListener)
        }
        running = true
        queue.async { [self] in loop() }
    }

    /// Frees every allocation, closes every socket and ends the loop. Blocks until done.
    public func stop() {
        guard running else { return }
        perform { [self] in stopping = true }
        finished.wait()
        running = false
    }

    /// Runs `body` on the worker's thread and waits for its result.
    public func sync<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
        guard running else { return body() }
        let box = Mutex<T?>(nil)
        let done = DispatchSemaphore(value: 0)
        perform {
            let value = body()
            box.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        guard let value = box.withLock({ $0 }) else { preconditionFailure("the worker answered without a value") }
        return value
    }

    /// Queues `body` for the worker's thread.
    func perform(_ body: @escaping @Sendable () -> Void) {
        mailbox.withLock { $0.append(body) }
        av1_eventfd_signal(wake)
    }

    /// Changes the engine's configuration on the worker's thread, between two packets, and waits
    /// (a reload: credentials, peer policy). Live allocations keep what they were granted.
    public func reconfigure(_ change: @escaping @Sendable (inout TURNEngineConfiguration) -> Void) {
        sync { [self] in change(&engine.configuration) }
    }

    /// The UDP listeners' bound addresses.
    public var listeningAddresses: [TransportAddress] { udpListeners.map(\.address) }

    /// Counters of this worker, read on its thread.
    public func snapshot() -> WorkerSnapshot {
        sync { [self] in
            var health = counts.health
            health.outboxOverflows = outbox.overflows
            return WorkerSnapshot(
                stats: engine.stats, allocations: engine.allocationCount, connections: connections.count, events: counts.events,
                health: health, allocationKinds: engine.allocationKinds)
        }
    }

    // MARK: The loop

    func watch(_ fd: Int32, _ role: Role, events: UInt32 = UInt32(AV1_IN)) {
        _ = av1_epoll_ctl(epoll, 1, fd, events, role.rawValue << 32 | UInt64(UInt32(bitPattern: fd)))
    }

    func rewatch(_ fd: Int32, _ role: Role, events: UInt32) {
        _ = av1_epoll_ctl(epoll, 3, fd, events, role.rawValue << 32 | UInt64(UInt32(bitPattern: fd)))
    }

    func unwatch(_ fd: Int32) {
        _ = av1_epoll_ctl(epoll, 2, fd, 0, 0)
    }

    private func loop() {
        nextTick = clock.now().millis + 1000
        while !stopping {
            let timeout = Int32(max(0, min(1000, nextTick - clock.now().millis)))
            let n = Int(av1_epoll_wait(epoll, events, Int32(Worker.maxEvents), timeout))
            let woke = clock.now().micros
            for i in 0..<max(n, 0) {
                let e = events[i]
                let fd = Int32(truncatingIfNeeded: e.data & 0xFFFF_FFFF)
                switch Role(rawValue: e.data >> 32) {
                case .udpListener: drain(listener: fd)
                case .relay: drain(relay: fd)
                case .connection: connectionReady(fd, events: e.events)
                case .streamListener: accept(fd)
                case .fleet: drain(fleet: fd)
                case .wake: runMailbox()
                case nil: break
                }
            }
            flush()
            let done = clock.now()
            counts.health.busyMicros += Int(done.micros - woke)
            let now = done.millis
            if now >= nextTick {
                nextTick = now + 1000
                tick()
            }
        }
        shutDown()
        finished.signal()
    }

    private func runMailbox() {
        av1_eventfd_drain(wake)
        let work = mailbox.withLock { m -> [@Sendable () -> Void] in
            let w = m
            m.removeAll()
            return w
        }
        for body in work { body() }
    }

    private func shutDown() {
        stopStreams()
        engine.removeAll(now: clock.now(), out: outbox)
        flush()
        for l in udpListeners + streamListeners {
            unwatch(l.fd)
            close(l.fd)
        }
        if let fleet = resources.fleetSocket {
            unwatch(fleet)
            close(fleet)
            resources.fleetSocket = nil
        }
        udpListeners.removeAll()
        streamListeners.removeAll()
        runMailbox()  // answer anyone still waiting
    }

    // MARK: Packet in → packet out

    @inline(__always)
    func address(of slot: UnsafeMutablePointer<av1_datagram>) -> UnsafeMutablePointer<sockaddr_storage> {
        av1_datagram_addr(slot)
    }

    func drain(listener fd: Int32) {
        guard let listener = udpListeners.first(where: { $0.fd == fd }) else { return }
        let server = listener.address
        receive(fd) { bytes, client, now in
            engine.handleClientPacket(
                bytes, tuple: FiveTuple(client: client, server: server, transport: .udp), socket: fd, now: now, out: outbox)
        }
    }

    /// Members' answers to this worker's fleet questions.
    func drain(fleet fd: Int32) {
        receive(fd) { bytes, member, now in
            engine.handleFleetAnswer(bytes, from: member, now: now, out: outbox)
        }
    }

    func drain(relay fd: Int32) {
        receive(fd) { bytes, peer, now in
            engine.handlePeerPacket(bytes, from: peer, relaySocket: fd, now: now, out: outbox)
        }
    }

    /// Reads up to a fair share of batches (the rest waits for the next round: epoll is level
    /// triggered), hands each datagram to `handle` and zeroes what was read. Sending waits for
    /// the end of the round, so that answers to many sockets' packets share `sendmmsg` calls.
    @inline(__always)
    private func receive(_ fd: Int32, _ handle: (UnsafeRawBufferPointer, TransportAddress, TURNTime) -> Void) {
        for _ in 0..<4 {
            let n = Int(av1_recv_batch(fd, recvSlots, Int32(Worker.batch)))
            if n <= 0 { break }
            counts.health.countReceive(n)
            let now = clock.now()
            for i in 0..<n {
                let slot = recvSlots + i
                let length = Int(slot.pointee.length)
                defer { memset(slot.pointee.buffer, 0, length) }
                guard slot.pointee.truncated == 0 else {
                    engine.dropTooBig()
                    continue
                }
                guard let from = SocketAddress.transportAddress(address(of: slot)) else { continue }
                handle(UnsafeRawBufferPointer(start: slot.pointee.buffer, count: length), from, now)
                if !outbox.hasRoom { flush() }
            }
            if n < Worker.batch { break }
        }
    }

    /// Sends everything queued, one `sendmmsg` per run of datagrams leaving the same socket
    /// (stream connections get their frames written in order), then zeroes the outbox.
    func flush() {
        let datagrams = outbox.datagrams
        if datagrams.isEmpty && outbox.events.isEmpty && outbox.legs.isEmpty && outbox.moves.isEmpty { return }
        guard let base = outbox.storage.baseAddress else { return }
        var i = 0
        while i < datagrams.count {
            let socket = datagrams[i].socket
            if !connections.isEmpty, let connection = connections[socket] {
                while i < datagrams.count && datagrams[i].socket == socket {
                    send(outbox.bytes(of: datagrams[i]), to: connection)
                    i += 1
                }
                continue
            }
            var k = 0
            while i < datagrams.count && datagrams[i].socket == socket && k < Worker.sendCapacity {
                let d = datagrams[i]
                let slot = sendSlots + k
                slot.pointee.buffer = (base + d.offset).assumingMemoryBound(to: UInt8.self)
                slot.pointee.length = UInt32(d.length)
                slot.pointee.addr_len = SocketAddress.write(d.destination, into: address(of: slot))
                i += 1
                k += 1
            }
            var refused: Int32 = 0
            _ = av1_send_batch(socket, sendSlots, Int32(k), &refused)
            counts.health.countSend(k, refused: Int(refused))
        }
        if !outbox.events.isEmpty {
            counts.events.count(outbox.events)
            onEvents(outbox.events)
        }
        if !outbox.legs.isEmpty { onLegs(outbox.legs) }
        for move in outbox.moves { carry(move) }
        outbox.scrub(upTo: outbox.used)
        outbox.removeAll()
    }

    /// Runs one tick now, on the worker's thread, and waits for it (tests that drive the clock).
    public func tickNow() { sync { [self] in tick() } }

    func tick() {
        let now = clock.now()
        engine.expire(now: now, out: outbox)
        resources.pool.expireReservations(nowMillis: now.millis)
        expireConnections(now: now.millis)
        wakeRestingListeners()
        let legs = engine.legReports()
        if !legs.isEmpty { onLegs(legs) }
        flush()
    }

    // MARK: Relay sockets

    func watchRelay(_ endpoint: RelayEndpoint) {
        relays.insert(endpoint.socket)
        watch(endpoint.socket, .relay)
    }

    /// A mobility move stops this worker reading these relay sockets, or starts it; they stay open.
    func handOver(_ relays: [RelayEndpoint]) {
        for r in relays where self.relays.remove(r.socket) != nil { unwatch(r.socket) }
    }

    func takeOver(_ relays: [RelayEndpoint]) { for r in relays { watchRelay(r) } }

    // MARK: Mobility

    /// A Refresh with a mobility ticket arrived here for an allocation another worker holds
    /// (SO_REUSEPORT put the client's new 5-tuple on this worker's socket): the owner releases the
    /// allocation on its thread, and this worker adopts it on its own and answers — two hops
    /// through the workers' mailboxes, so neither loop takes a lock and the packet path stays as
    /// it is. From then on the allocation is this worker's, relay sockets included.
    func carry(_ move: MobilityMove) {
        guard let owner = group?.worker(Int(move.ticket.worker)) else {
            return perform { [self] in settle(move, refusal: .allocationMismatch) }
        }
        owner.perform { [self] in
            do throws(TURNRejection) {
                let allocation = try owner.engine.release(for: move)
                let handed = HandedAllocation(allocation)
                perform { [self] in
                    engine.adopt(handed.allocation, move: move, now: clock.now(), out: outbox)
                }
            } catch {
                perform { [self] in settle(move, refusal: error) }
            }
        }
    }

    private func settle(_ move: MobilityMove, refusal: TURNRejection) { engine.refuse(move, refusal, out: outbox) }

    func unwatchRelay(_ endpoint: RelayEndpoint) {
        guard relays.remove(endpoint.socket) != nil else { return }
        unwatch(endpoint.socket)
        close(endpoint.socket)
        resources.pool.release(endpoint.address)
    }
}

/// A worker's counters at one moment.
public struct WorkerSnapshot: Sendable {
    public var stats: TURNStats
    public var allocations: Int
    public var connections: Int
    public var events: TURNEventCounts
    public var health: WorkerHealth
    public var allocationKinds: AllocationKinds

    public init(
        stats: TURNStats = TURNStats(), allocations: Int = 0, connections: Int = 0, events: TURNEventCounts = TURNEventCounts(),
        health: WorkerHealth = WorkerHealth(), allocationKinds: AllocationKinds = AllocationKinds()
    ) {
        self.stats = stats
        self.allocations = allocations
        self.connections = connections
        self.events = events
        self.health = health
        self.allocationKinds = allocationKinds
    }

    public var streamRefused: Int { health[closed: .refused] }
    public var streamFramingErrors: Int { health[closed: .framingError] }
    public var streamOverruns: Int { health[closed: .overrun] }
    public var streamTimeouts: Int { health[closed: .timeout] }

    public static func + (a: WorkerSnapshot, b: WorkerSnapshot) -> WorkerSnapshot {
        WorkerSnapshot(
            stats: a.stats + b.stats, allocations: a.allocations + b.allocations, connections: a.connections + b.connections,
            events: a.events + b.events, health: a.health + b.health, allocationKinds: a.allocationKinds + b.allocationKinds)
    }
}

/// The I/O side of `RelayResources` for one worker: relay sockets come from the shared pool and
/// are read by this worker; quotas are shared.
final class WorkerResources: RelayResources {
    let pool: RelayPortPool
    let quota: AllocationQuota
    let pairing: PairingRegistry
    let hairpin: HairpinTable
    let fleet: FleetChannelState
    var fleetSocket: SocketID?
    unowned(unsafe) var worker: Worker?

    init(pool: RelayPortPool, quota: AllocationQuota, pairing: PairingRegistry, hairpin: HairpinTable, fleet: FleetChannelState) {
        self.pool = pool
        self.quota = quota
        self.pairing = pairing
        self.hairpin = hairpin
        self.fleet = fleet
    }

    func openRelay(family: AddressFamily, evenPort: Bool, reserveNext: Bool) -> RelayOpenResult {
        let result = pool.open(family: family, evenPort: evenPort, reserveNext: reserveNext, nowMillis: now())
        if case .opened(let endpoint, _) = result { worker?.watchRelay(endpoint) }
        return result
    }

    func claimReservation(_ token: UInt64) -> RelayEndpoint? {
        guard let endpoint = pool.claim(token, nowMillis: now()) else { return nil }
        worker?.watchRelay(endpoint)
        return endpoint
    }

    private func now() -> Int64 { worker?.clock.now().millis ?? av1_monotonic_ms() }

    func closeRelay(_ endpoint: RelayEndpoint) { worker?.unwatchRelay(endpoint) }
    func handOver(_ relays: [RelayEndpoint]) { worker?.handOver(relays) }
    func takeOver(_ relays: [RelayEndpoint]) { worker?.takeOver(relays) }
    func acquireAllocation(user: String) -> QuotaResult { quota.acquire(user: user) }
    func releaseAllocation(user: String) { quota.release(user: user) }
    func registerPairing(_ entry: PairingEntry) { pairing.register(entry) }
    func unregisterPairing(_ entry: PairingEntry) { pairing.unregister(entry) }
    func partnerAddresses(device: String, role: Identity.Role) -> Set<TransportAddress> { pairing.addresses(device: device, role: role) }
    func hasAllocations(device: String) -> Bool { pairing.contains(device: device) }
    func firstSight(ofFleetCheck id: TransactionID, nowMillis: Int64) -> Bool { fleet.firstSight(id, nowMillis: nowMillis) }
    func redirectedBefore(_ key: String, nowMillis: Int64) -> Bool { fleet.redirectedBefore(key, nowMillis: nowMillis) }
    func publishRoute(_ route: HairpinRoute?, for relayed: [TransportAddress]) { hairpin.publish(route, for: relayed) }
    func hairpinDelivery(to relayed: TransportAddress, from source: TransportAddress, now: Int64) -> HairpinDelivery {
        hairpin.delivery(to: relayed, from: source, now: now)
    }
    func listenerSocket(for server: TransportAddress) -> SocketID? { worker?.udpListeners.first { $0.address == server }?.fd }
}

/// An allocation on its way from one worker to another: touched by the owner until it hands it
/// over, then only by the adopter.
struct HandedAllocation: @unchecked Sendable {
    let allocation: Allocation
    init(_ allocation: Allocation) { self.allocation = allocation }
}

/// The workers of one relay, so that one can reach another (mobility moves). Filled once before
/// the workers start, read-only after.
public final class WorkerGroup: @unchecked Sendable {
    private var members: [Weak] = []

    struct Weak {
        weak var worker: Worker?
    }

    public init() {}

    /// Makes `workers` one group (each can reach every other by its index).
    public static func join(_ workers: [Worker]) {
        let group = WorkerGroup()
        group.members = workers.map { Weak(worker: $0) }
        for w in workers { w.group = group }
    }

    func worker(_ index: Int) -> Worker? {
        members.first { $0.worker?.index == index }?.worker
    }
}
