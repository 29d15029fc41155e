import CAV1Shim
import Dispatch
import Glibc
import STUN
import TURN

/// One data-plane worker: a serial queue with its own SO_REUSEPORT listener socket(s), the relay
/// sockets of the allocations it owns, and its own engine. Packet in → packet out is
/// `drain(listener:)` / `drain(relay:)` → `TURNEngine` → `flush()`: batched `recvmmsg`, the engine
/// writes into a preallocated outbox, batched `sendmmsg`. Nothing on that path allocates.
///
/// Everything here runs on `queue`; that confinement is what `@unchecked Sendable` promises.
public final class Worker: @unchecked Sendable {
    public let index: Int
    public let queue: DispatchQueue
    var engine: TURNEngine<WorkerResources>
    let outbox = Outbox()
    let resources: WorkerResources

    static let batch = 32
    static let slotSize = 4096
    static let sendCapacity = 1024
    let recvSlots: UnsafeMutablePointer<av1_datagram>
    let recvBuffers: UnsafeMutableRawBufferPointer
    let sendSlots: UnsafeMutablePointer<av1_datagram>

    struct Listener {
        var fd: Int32
        var address: TransportAddress
        var source: DispatchSourceRead
    }
    var listeners: [Listener] = []
    var relaySources: [Int32: DispatchSourceRead] = [:]
    var timer: DispatchSourceTimer?
    /// Called on `queue` with each batch's events (logging, metrics).
    var onEvents: @Sendable ([TURNEvent]) -> Void = { _ in }
    private var stopped = false

    public init(index: Int, configuration: TURNEngineConfiguration, pool: RelayPortPool, quota: AllocationQuota) {
        self.index = index
        self.queue = DispatchQueue(label: "av1relay.worker.\(index)", qos: .userInteractive)
        self.resources = WorkerResources(pool: pool, quota: quota)
        self.engine = TURNEngine(configuration: configuration, resources: resources)
        recvSlots = .allocate(capacity: Worker.batch)
        sendSlots = .allocate(capacity: Worker.sendCapacity)
        recvBuffers = .allocate(byteCount: Worker.batch * Worker.slotSize, alignment: 4096)
        recvBuffers.initializeMemory(as: UInt8.self, repeating: 0)
        _ = av1_exclude_from_dump(recvBuffers.baseAddress, recvBuffers.count)
        _ = av1_exclude_from_dump(outbox.storage.baseAddress, outbox.storage.count & ~4095)
        for i in 0..<Worker.batch {
            recvSlots[i] = av1_datagram()
            recvSlots[i].buffer = recvBuffers.baseAddress!.advanced(by: i * Worker.slotSize).assumingMemoryBound(to: UInt8.self)
            recvSlots[i].capacity = UInt32(Worker.slotSize)
        }
        sendSlots.initialize(repeating: av1_datagram(), count: Worker.sendCapacity)
        resources.worker = self
    }

    deinit {
        recvBuffers.deallocate()
        recvSlots.deallocate()
        sendSlots.deallocate()
    }

    /// Starts reading `fds` (bound listeners) and the expiry timer.
    public func start(listening fds: [(Int32, TransportAddress)], onEvents: @escaping @Sendable ([TURNEvent]) -> Void) {
        queue.sync {
            self.onEvents = onEvents
            for (fd, address) in fds {
                let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
                let index = listeners.count
                source.setEventHandler { [unowned self] in self.drain(listener: index) }
                source.setCancelHandler { close(fd) }
                listeners.append(Listener(fd: fd, address: address, source: source))
                source.resume()
            }
            let timer = DispatchSource.makeTimerSource(queue: queue)
            timer.schedule(deadline: .now() + .seconds(1), repeating: .seconds(1), leeway: .milliseconds(100))
            timer.setEventHandler { [unowned self] in self.tick() }
            timer.resume()
            self.timer = timer
        }
    }

    /// Frees every allocation and closes every socket. Blocks until done.
    public func stop() {
        queue.sync {
            guard !stopped else { return }
            stopped = true
            engine.removeAll(now: Worker.now(), out: outbox)
            flush()
            timer?.cancel()
            for l in listeners { l.source.cancel() }
            listeners.removeAll()
        }
    }

    /// The listeners' bound addresses.
    public var listeningAddresses: [TransportAddress] { queue.sync { listeners.map(\.address) } }

    /// Counters of this worker's engine, read on its queue.
    public func snapshot() -> (stats: TURNStats, allocations: Int) {
        queue.sync { (engine.stats, engine.allocationCount) }
    }

    static func now() -> TURNTime {
        TURNTime(millis: av1_monotonic_ms(), unixSeconds: Int64(time(nil)))
    }

    // MARK: Packet in → packet out

    static let addrOffset = MemoryLayout<av1_datagram>.offset(of: \av1_datagram.addr)!

    @inline(__always)
    func address(of slot: UnsafeMutablePointer<av1_datagram>) -> UnsafeMutablePointer<sockaddr_storage> {
        UnsafeMutableRawPointer(slot).advanced(by: Worker.addrOffset).assumingMemoryBound(to: sockaddr_storage.self)
    }

    func drain(listener index: Int) {
        guard index < listeners.count else { return }
        let fd = listeners[index].fd
        let server = listeners[index].address
        receive(fd) { bytes, client, now in
            engine.handleClientPacket(
                bytes, tuple: FiveTuple(client: client, server: server, transport: .udp), socket: fd, now: now, out: outbox)
        }
    }

    func drain(relay fd: Int32) {
        receive(fd) { bytes, peer, now in
            engine.handlePeerPacket(bytes, from: peer, relaySocket: fd, now: now, out: outbox)
        }
    }

    /// Reads batches until the socket is empty (or a fair share is done), hands each datagram to
    /// `handle`, zeroes what was read, and sends what the engine queued.
    @inline(__always)
    private func receive(_ fd: Int32, _ handle: (UnsafeRawBufferPointer, TransportAddress, TURNTime) -> Void) {
        var rounds = 0
        while rounds < 8 {
            rounds += 1
            let n = Int(av1_recv_batch(fd, recvSlots, Int32(Worker.batch)))
            if n <= 0 { break }
            let now = Worker.now()
            for i in 0..<n {
                let slot = recvSlots + i
                let length = Int(slot.pointee.length)
                defer { memset(slot.pointee.buffer, 0, length) }
                guard slot.pointee.truncated == 0, let from = SocketAddress.transportAddress(address(of: slot)) else {
                    continue
                }
                handle(UnsafeRawBufferPointer(start: slot.pointee.buffer, count: length), from, now)
                if !outbox.hasRoom { flush() }
            }
            if n < Worker.batch { break }
        }
        flush()
    }

    /// Sends everything queued, one `sendmmsg` per run of datagrams leaving the same socket.
    func flush() {
        let datagrams = outbox.datagrams
        let base = outbox.storage.baseAddress!
        var i = 0
        while i < datagrams.count {
            let socket = datagrams[i].socket
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
            _ = av1_send_batch(socket, sendSlots, Int32(k))
        }
        if !outbox.events.isEmpty { onEvents(outbox.events) }
        outbox.scrub(upTo: outbox.used)
        outbox.removeAll()
    }

    func tick() {
        let now = Worker.now()
        engine.expire(now: now, out: outbox)
        resources.pool.expireReservations(nowMillis: now.millis)
        flush()
    }

    // MARK: Relay sockets

    func watchRelay(_ endpoint: RelayEndpoint) {
        let fd = endpoint.socket
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        source.setEventHandler { [unowned self] in self.drain(relay: fd) }
        let pool = resources.pool
        let address = endpoint.address
        source.setCancelHandler {
            close(fd)
            pool.release(address)
        }
        relaySources[fd] = source
        source.resume()
    }

    func unwatchRelay(_ endpoint: RelayEndpoint) {
        relaySources.removeValue(forKey: endpoint.socket)?.cancel()
    }
}

/// The I/O side of `RelayResources` for one worker: relay sockets come from the shared pool and
/// are read by this worker; quotas are shared.
final class WorkerResources: RelayResources {
    let pool: RelayPortPool
    let quota: AllocationQuota
    unowned(unsafe) var worker: Worker?

    init(pool: RelayPortPool, quota: AllocationQuota) {
        self.pool = pool
        self.quota = quota
    }

    func openRelay(family: AddressFamily, evenPort: Bool, reserveNext: Bool) -> RelayOpenResult {
        let result = pool.open(family: family, evenPort: evenPort, reserveNext: reserveNext, nowMillis: av1_monotonic_ms())
        if case .opened(let endpoint, _) = result { worker?.watchRelay(endpoint) }
        return result
    }

    func claimReservation(_ token: UInt64) -> RelayEndpoint? {
        guard let endpoint = pool.claim(token, nowMillis: av1_monotonic_ms()) else { return nil }
        worker?.watchRelay(endpoint)
        return endpoint
    }

    func closeRelay(_ endpoint: RelayEndpoint) { worker?.unwatchRelay(endpoint) }
    func acquireAllocation(user: String) -> QuotaResult { quota.acquire(user: user) }
    func releaseAllocation(user: String) { quota.release(user: user) }
}
