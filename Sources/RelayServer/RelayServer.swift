import CAV1Shim
import Dispatch
import Foundation
import Logging
// The configuration is part of the relay's interface: `import RelayServer` brings it.
@_exported import RelayConfig
import RelayIO
import STUN
import SessionStore
import Sessions
import Sockets
import Synchronization
import TURN

/// The relay put together: configuration → engines, workers, sockets; events → logs.
/// Logs carry counts and RFC codes, never an address, a username or payload.
/// `start` and `stop` may come from any thread; the stats timer is guarded by `lock`.
public final class RelayServer: @unchecked Sendable {
    /// The configuration now in force (a reload changes its live keys).
    public var configuration: RelayConfiguration { current.withLock { $0 } }
    let current: Mutex<RelayConfiguration>
    /// Set once by `startDrain`.
    let drainState = Mutex(false)
    /// The fleet as configured or as DNS last said, before draining takes this relay out.
    let fleetState: Mutex<FleetView?>
    /// Membership from DNS, when `fleet-dns` is set.
    public let discovery: FleetDiscovery?
    /// Where leg reports leave for a device's home relay (with a fleet channel).
    let fleetReporter: Int32?
    /// What a reload keeps: the nonce key (outstanding nonces stay valid) and the addresses the
    /// peer policy always refuses.
    let nonceKey: [UInt8]
    let ownAddresses: Set<IPAddress>
    let listenerAddresses: Set<TransportAddress>
    /// The data-plane workers (tests drive their ticks).
    public let workers: [Worker]
    let pool: RelayPortPool
    let quota: AllocationQuota
    let logger: Logger
    private let lock = NSLock()
    private var statsTimer: DispatchSourceTimer?
    private var sessionTimer: DispatchSourceTimer?
    private var retentionTimer: DispatchSourceTimer?
    private var minuteTimer: DispatchSourceTimer?
    /// Final records' outcomes (metrics) and refusal counts a minute apart (the status page).
    let outcomes = Mutex(SessionOutcomes())
    let refusalSamples = Mutex<[RefusalSample]>([])
    /// Sessions of paired devices, and where their records go.
    public let sessions: SessionRegistry
    let sinks: [any SessionSink]
    /// The session log's sink among them, if records go to one.
    public let sessionLog: JSONLinesSink?
    let sessionQueue = DispatchQueue(label: "av1relay.sessions")

    /// The TLS context, when TLS is configured; reloaded by `reloadTLS()`.
    public let tls: TLSContext?
    /// Addresses actually listened on, per transport (the kernel's port for port 0).
    public let udpAddresses: [TransportAddress]
    public let tcpAddresses: [TransportAddress]
    public let tlsAddresses: [TransportAddress]

    /// Loads the configured certificate and key; nil when TLS is not configured.
    public static func loadTLS(_ c: RelayConfiguration) throws(TLSError) -> TLSContext? {
        guard let certificate = c.tlsCertificate, let key = c.tlsKey else { return nil }
        let context = TLSContext()
        try context.load(certificate: certificate, key: key)
        return context
    }

    /// The sinks the configuration asks for; throws when the session log or the store cannot be
    /// opened. The store's writer logs its backlog (counts only) to `logger`.
    public static func openSinks(_ c: RelayConfiguration, logger: Logger = Logger(label: "av1relay") { _ in SwiftLogNoOpLogHandler() })
        throws -> [any SessionSink]
    {
        var sinks: [any SessionSink] = []
        if let path = c.sessionLog {
            sinks.append(
                try JSONLinesSink(path: path, maxBytes: c.sessionLogMaxBytes, keep: c.sessionLogKeep, backlogLimit: c.sessionLogBacklog) {
                    event in
                    switch event {
                    case .tornTailDropped(let bytes):
                        logger.warning(
                            "session log: dropped the torn end of its last line, left by a write that was cut off",
                            metadata: ["bytes": "\(bytes)"])
                    case .failing(let reason):
                        logger.error(
                            "session log: cannot write; records wait in memory and are written when it can be",
                            metadata: ["reason": "\(reason)", "backlog_limit": "\(c.sessionLogBacklog)"])
                    case .dropping(let limit):
                        logger.error("session log: backlog full, dropping its oldest records", metadata: ["backlog_limit": "\(limit)"])
                    case .recovered(let written, let dropped):
                        logger.notice(
                            "session log: writing again", metadata: ["records_written": "\(written)", "records_dropped": "\(dropped)"])
                    }
                })
        }
        if c.sessionStdout { sinks.append(StandardOutputSink()) }
        if let store = try openStore(c, reachable: false, logger: logger) {
            sinks.append(
                StoreWriter(store: store, spoolPath: c.sessionSpoolPath, spoolMaxBytes: c.sessionSpoolMaxBytes) { level, message, counts in
                    let metadata = counts.mapValues { Logger.MetadataValue.string("\($0)") }
                    switch level {
                    case .notice: logger.notice("\(message)", metadata: metadata)
                    case .warning: logger.warning("\(message)", metadata: metadata)
                    case .error: logger.error("\(message)", metadata: metadata)
                    }
                })
        }
        return sinks
    }

    /// The store the configuration names, opened and migrated; nil for none. A relay opens it
    /// with `reachable` false: a PostgreSQL server down at start delays the migrations, not the relay.
    public static func openStore(
        _ c: RelayConfiguration, reachable: Bool = true, logger: Logger = Logger(label: "av1relay") { _ in SwiftLogNoOpLogHandler() }
    ) throws -> (any SessionStore)? {
        if let settings = c.postgresStore { return try PostgresSessionStore(settings: settings, reachable: reachable, logger: logger) }
        return try c.sessionStorePath.map { try SQLiteSessionStore(path: $0) }
    }

    /// The store, session log and spool a configuration names, for `av1relay records` (no relay
    /// running in this process; a running relay's own is `recordKeeper()`).
    public static func recordKeeper(_ c: RelayConfiguration) throws -> RecordKeeper {
        let store = try openStore(c)
        return RecordKeeper(
            store: store, sessionLog: c.sessionLog, sessionLogKeep: c.sessionLogKeep, spoolPath: store == nil ? nil : c.sessionSpoolPath,
            auditLog: c.auditLogPath)
    }

    /// Builds the engines and binds every listener; throws if a socket cannot be opened.
    /// Where workers and sessions read the time (tests drive a manual clock).
    let clock: WorkerClock

    public init(
        configuration c: RelayConfiguration, tls: TLSContext? = nil, sinks: [any SessionSink] = [], clock: WorkerClock = .system,
        logger: Logger
    ) throws(SocketError) {
        self.clock = clock
        self.current = Mutex(c)
        self.logger = logger
        self.tls = tls
        self.sinks = sinks
        sessionLog = sinks.lazy.compactMap { $0 as? JSONLinesSink }.first
        var sessionSettings = SessionRegistry.Settings()
        sessionSettings.interimInterval = Double(c.sessionInterim)
        sessionSettings.idleTimeout = Double(c.sessionIdle)
        let registry = SessionRegistry(settings: sessionSettings)
        self.sessions = registry
        let count = c.workers > 0 ? c.workers : max(1, ProcessInfo.processInfo.activeProcessorCount)
        var opened: [Int32] = []
        /// Every worker binds each address with SO_REUSEPORT; port 0 is resolved first so that
        /// the other workers join the same port. Not by a SO_REUSEPORT bind to port 0: Linux may
        /// hand that a port another SO_REUSEPORT socket of the same user already holds (another
        /// relay on the machine, a test's), and the two would share its datagrams. A plain bind
        /// to port 0 (`probe`) gets a port nobody holds; it is let go and taken again at once.
        func bindAll(
            _ list: [TransportAddress], probe: (TransportAddress) -> Result<Int32, SocketError>,
            _ bind: (TransportAddress) -> Result<Int32, SocketError>
        ) throws(SocketError) -> [[(Int32, TransportAddress)]] {
            var addresses = list
            var perWorker: [[(Int32, TransportAddress)]] = []
            /// A port-0 address resolved to a free port, then bound: retried when something else
            /// took the port in between.
            func bindFresh(_ address: TransportAddress) -> Result<Int32, SocketError> {
                for _ in 0..<16 {
                    guard case .success(let fd) = probe(address) else { break }
                    let free = SocketAddress.localAddress(fd)
                    close(fd)
                    guard let free else { break }
                    let bound = bind(free)
                    if case .success = bound { return bound }
                }
                return bind(address)  // the probe could not help: as the kernel gives it
            }
            for _ in 0..<count {
                var mine: [(Int32, TransportAddress)] = []
                for (n, address) in addresses.enumerated() {
                    switch address.port == 0 ? bindFresh(address) : bind(address) {
                    case .success(let fd):
                        opened.append(fd)
                        addresses[n] = SocketAddress.localAddress(fd) ?? address
                        mine.append((fd, addresses[n]))
                    case .failure(let e):
                        for fd in opened { close(fd) }
                        throw e
                    }
                }
                perWorker.append(mine)
            }
            return perWorker
        }
        let udp = try bindAll(c.listen, probe: { SocketAddress.bindUDP($0, reusePort: false) }) {
            SocketAddress.bindUDP($0, reusePort: true)
        }
        let tcp = try bindAll(c.tcpListen, probe: { SocketAddress.listenTCP($0, reusePort: false) }) {
            SocketAddress.listenTCP($0, reusePort: true)
        }
        let tlsListen = tls == nil ? [] : c.activeTLSListen
        let tlsSockets = try bindAll(tlsListen, probe: { SocketAddress.listenTCP($0, reusePort: false) }) {
            SocketAddress.listenTCP($0, reusePort: true)
        }
        udpAddresses = udp.first?.map(\.1) ?? []
        tcpAddresses = tcp.first?.map(\.1) ?? []
        tlsAddresses = tlsSockets.first?.map(\.1) ?? []
        let listeners = udpAddresses + tcpAddresses + tlsAddresses
        // Each worker asks other members from a socket of its own, so their answers come back to it;
        // one more carries leg reports to the devices' home relays.
        var fleetSockets: [Int32?] = Array(repeating: nil, count: count + 1)
        if c.fleetSecret != nil, let ip = (udpAddresses + tcpAddresses).first?.ip {
            for i in 0...count {
                switch SocketAddress.bindUDP(TransportAddress(ip: ip, port: 0), reusePort: false) {
                case .success(let fd):
                    opened.append(fd)
                    fleetSockets[i] = fd
                case .failure(let e):
                    for fd in opened { close(fd) }
                    throw e
                }
            }
        }

        nonceKey = Self.nonceKey(fleetSecret: c.fleetSecret)
        ownAddresses = Set(c.boundRelayAddresses + c.externalAddresses.map(\.public) + listeners.map(\.ip))
        listenerAddresses = Set(listeners)
        let authenticator = Self.authenticator(c, nonceKey: nonceKey)
        let policy = PeerPolicy(allow: c.allowPeers, ownAddresses: ownAddresses, listenerAddresses: listenerAddresses)
        var engineConfiguration = TURNEngineConfiguration(realm: c.realm, authenticator: authenticator, peerPolicy: policy)
        engineConfiguration.defaultLifetime = c.defaultLifetime
        engineConfiguration.maxLifetime = c.maxLifetime
        engineConfiguration.pairing = c.pairing
        engineConfiguration.fleetKey = c.fleetSecret.map { Array($0.utf8) }
        if let name = c.fleetDNS, let fleetSelf = c.fleetSelf, let port = (udpAddresses + tcpAddresses).first?.port {
            let discovery = FleetDiscovery(name: name, port: port, tlsPort: tlsAddresses.first?.port)
            self.discovery = discovery
            // The first view before serving; a failed lookup starts with this relay alone.
            let view = Self.view(self: fleetSelf, dns: discovery.members() ?? [], port: port, tlsPort: tlsAddresses.first?.port)
            fleetState = Mutex(view)
            engineConfiguration.fleet = view
        } else {
            discovery = nil
            fleetState = Mutex(c.fleet)
            engineConfiguration.fleet = c.fleet
        }
        engineConfiguration.hairpin = c.hairpin
        engineConfiguration.maxBytesPerSecond = c.maxBps
        engineConfiguration.sourceRate = c.sourceRate
        engineConfiguration.sourceBurst = c.sourceBurst
        // A key of this run only: a ticket names an allocation of this process, and no allocation
        // outlives it.
        engineConfiguration.mobilityKey = c.mobility ? STUNCrypto.randomBytes(32) : nil
        engineConfiguration.channelRange = c.channelRange == "rfc5766" ? STUNDataPath.legacyChannelRange : STUNDataPath.channelRange
        engineConfiguration.software = "av1relay \(RelayVersion.current)"
        let pool = RelayPortPool(
            addresses: c.boundRelayAddresses, advertised: c.advertisedRelayAddresses, range: c.minPort...c.maxPort)
        let quota = AllocationQuota(maxPerUser: c.userQuota, maxTotal: c.totalQuota)
        self.pool = pool
        self.quota = quota
        var limits = StreamLimits()
        limits.handshakeTimeout = c.handshakeTimeout
        limits.idleTimeout = c.idleTimeout
        limits.bufferLimit = c.streamBuffer
        limits.maxConnections = c.maxConnections
        limits.maxConnectionsPerAddress = c.maxConnectionsPerAddress
        let counter = ConnectionCounter(limits: limits)
        let pairing = PairingRegistry()
        let hairpin = HairpinTable()
        let fleetChannel = FleetChannelState()
        let workers = (0..<count).map {
            Worker(
                index: $0, configuration: engineConfiguration, pool: pool, quota: quota, pairing: pairing, hairpin: hairpin, clock: clock,
                fleet: fleetChannel)
        }
        self.workers = workers
        WorkerGroup.join(workers)
        fleetReporter = fleetSockets[count]
        // The workers' callbacks reach the server without keeping it alive (no cycle).
        let server = WeakServer(self)
        for (i, worker) in workers.enumerated() {
            let streams = tcp[i].map { ($0.0, $0.1, TransportProtocol.tcp) } + tlsSockets[i].map { ($0.0, $0.1, TransportProtocol.tls) }
            // Leg reports go to the sessions' own queue: a worker never waits for the sessions' lock
            // while the 1 Hz tick builds records under it.
            let sessionQueue = self.sessionQueue
            let onLegs: @Sendable ([LegReport]) -> Void = { legs in sessionQueue.async { server.value?.route(legs) } }
            worker.start(
                udp: udp[i], streams: streams, limits: limits, counter: counter, tls: tls, fleetSocket: fleetSockets[i], onLegs: onLegs,
                onPressure: { [logger] pressure in RelayServer.log(pressure, worker: i, logger) }
            ) {
                [logger] events in
                RelayServer.log(events, logger)
                for case .fleetLegs(let body, let sender, let received) in events {
                    sessionQueue.async { server.value?.receiveFleetLegs(body, senderClock: sender, receivedAt: received) }
                }
            }
        }
    }

    /// The UDP addresses actually listened on.
    public var listeningAddresses: [TransportAddress] { udpAddresses }

    public func start() {
        logger.info(
            "av1relay serving",
            metadata: [
                // The relay's own bound addresses (never a client's): with port 0, where it landed.
                "udp": "\(udpAddresses.map(\.description).joined(separator: ","))",
                "tcp": "\(tcpAddresses.map(\.description).joined(separator: ","))",
                "tls": "\(tlsAddresses.map(\.description).joined(separator: ","))",
                "workers": "\(workers.count)",
                "relay_ports": "\(configuration.minPort)-\(configuration.maxPort)",
                "static_users": "\(configuration.users.count)", "rest_secrets": "\(configuration.authSecrets.count)",
                "pairing": "\(configuration.pairing ? "enforced" : "off")",
            ])
        let sessionTimer = DispatchSource.makeTimerSource(queue: sessionQueue)
        sessionTimer.schedule(deadline: .now() + .seconds(1), repeating: .seconds(1))
        sessionTimer.setEventHandler { [self] in writeRecords(shutdown: false) }
        sessionTimer.resume()
        lock.withLock { self.sessionTimer = sessionTimer }
        // Retention: hourly, and once at start for what aged while the relay was down.
        let retention = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "av1relay.retention"))
        retention.schedule(deadline: .now() + .seconds(5), repeating: .seconds(3600))
        retention.setEventHandler { [self] in applyRetention() }
        retention.resume()
        lock.withLock { retentionTimer = retention }
        sampleRefusals()
        let minute = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "av1relay.minute"))
        minute.schedule(deadline: .now() + .seconds(60), repeating: .seconds(60))
        minute.setEventHandler { [self] in sampleRefusals() }
        minute.resume()
        lock.withLock { minuteTimer = minute }
        if configuration.users.isEmpty && configuration.authSecrets.isEmpty {
            logger.warning("no credentials configured (--user, --auth-secret): every Allocate will be refused with 401")
        }
        guard configuration.statsInterval > 0 else { return }
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "av1relay.stats"))
        let interval = configuration.statsInterval
        timer.schedule(deadline: .now() + .seconds(interval), repeating: .seconds(interval))
        timer.setEventHandler { [self] in logStats() }
        timer.resume()
        lock.withLock { statsTimer = timer }
    }

    /// Counters summed over every worker.
    public func snapshot() -> WorkerSnapshot {
        workers.map { $0.snapshot() }.reduce(WorkerSnapshot(), +)
    }

    /// Engine counters and allocations, summed over every worker.
    public func stats() -> (stats: TURNStats, allocations: Int) {
        let s = snapshot()
        return (s.stats, s.allocations)
    }

    func logStats() {
        let snap = snapshot()
        let (s, allocations) = (snap.stats, snap.allocations)
        logger.info(
            "stats",
            metadata: [
                "allocations": "\(allocations)", "from_clients": "\(s.packetsFromClients)",
                "to_peers": "\(s.packetsToPeers)", "from_peers": "\(s.packetsFromPeers)",
                "to_clients": "\(s.packetsToClients)", "dropped": "\(s.dropped)", "malformed": "\(s.malformed)", "too_big": "\(s.tooBig)",
                "requests": "\(s.requests)", "error_responses": "\(s.errorResponses)", "hairpinned": "\(s.hairpinned)",
                "connections": "\(snap.connections)", "stream_refused": "\(snap.streamRefused)",
                "stream_errors": "\(snap.streamFramingErrors + snap.streamOverruns)", "stream_timeouts": "\(snap.streamTimeouts)",
            ])
    }

    /// What this relay holds of a device now: live allocations by role, the live session so far.
    public func live(device: String) -> SessionRegistry.DeviceLive {
        sessions.live(device: device, now: clock.now().micros, unix: Date().timeIntervalSince1970)
    }

    /// Every live session as a record so far.
    public func liveSessions() -> [SessionRecord] {
        sessions.liveSessions(unix: Date().timeIntervalSince1970)
    }

    /// The key nonces are made with: random, or with a fleet secret the same on every member, so
    /// that a nonce one member gave is good at another — a browser that follows 300 Try Alternate
    /// presents the first relay's nonce to the home (libwebrtc), and fails on 438 there.
    static func nonceKey(fleetSecret: String?) -> [UInt8] {
        guard let fleetSecret else { return STUNCrypto.randomBytes(32) }
        return STUNCrypto.hmacSHA256(key: Array(fleetSecret.utf8), Array("av1relay nonce key 1".utf8))
    }

    /// The running relay's store, session log and spool (deliveries pause while it erases).
    /// Only the places this relay writes (its sinks), never one the configuration names but it
    /// was not given.
    public func recordKeeper() -> RecordKeeper {
        let writer = sinks.lazy.compactMap { $0 as? StoreWriter }.first
        let log = sessionLog
        return RecordKeeper(
            store: writer?.store, writer: writer, sessionLog: log?.path, sessionLogKeep: log?.keep ?? 1, spoolPath: writer?.spoolPath,
            auditLog: configuration.auditLogPath, sessionLogSink: log)
    }

    /// Erases what is older than `retention-days` from the store, the session log and the spool,
    /// and audit entries older than `audit-retention-days`.
    public func applyRetention(now: Date = Date()) {
        do {
            let (counts, audit) = try recordKeeper().purge(
                olderThanDays: configuration.retentionDays, auditDays: configuration.auditRetentionDays, now: now)
            if audit > 0 {
                logger.notice(
                    "retention: audit entries erased", metadata: ["days": "\(configuration.auditRetentionDays)", "entries": "\(audit)"])
            }
            if counts.total > 0 {
                logger.notice(
                    "retention: records erased",
                    metadata: [
                        "days": "\(configuration.retentionDays)", "store": "\(counts.store)", "session_log": "\(counts.sessionLog)",
                        "spool": "\(counts.spool)",
                    ])
            }
        } catch {
            logger.error("retention: not applied", metadata: ["reason": "\(error)"])
        }
    }

    /// Turns sessions into records and writes them to every sink (on the sessions queue).
    func writeRecords(shutdown: Bool) {
        // Monotonic time from the clock of the leg reports (the workers'); wall time, for the
        // records' dates, to the millisecond.
        let records = sessions.tick(now: clock.now().micros, unix: Date().timeIntervalSince1970, shutdown: shutdown)
        if records.contains(where: { $0.type == "final" }) {
            outcomes.withLock { o in for record in records { o.add(record) } }
        }
        sessionLog?.retry()
        for record in records {
            for sink in sinks {
                do { try sink.write(record) } catch { logger.error("session record not written: \(error)") }
            }
            logger.info("session record", metadata: ["type": "\(record.type)", "grade": "\(record.quality.grade)"])
        }
    }

    /// Frees every allocation, closes every socket; blocks until the workers are done, then writes
    /// the final records of the sessions still open.
    public func stop() {
        lock.withLock {
            statsTimer?.cancel()
            sessionTimer?.cancel()
            retentionTimer?.cancel()
            minuteTimer?.cancel()
        }
        for w in workers { w.stop() }
        sessionQueue.sync { writeRecords(shutdown: true) }
        for sink in sinks { sink.flush() }
        if let waiting = sessionLog?.backlog.waiting, waiting > 0 {
            logger.error("session log: records not written at exit", metadata: ["records": "\(waiting)"])
        }
        pool.closeReservations()
        logStats()
        logger.info("av1relay stopped")
    }

    static func log(_ pressure: ResourcePressure, worker: Int, _ logger: Logger) {
        switch pressure {
        case .acceptsPaused(let errno):
            logger.error(
                "TCP/TLS accepts paused: no file descriptor or memory left (see ulimit -n); clients wait, tried again every second",
                metadata: ["worker": "\(worker)", "reason": "\(String(cString: strerror(errno)))"])
        case .acceptsResumed:
            logger.notice("TCP/TLS accepts resumed", metadata: ["worker": "\(worker)"])
        }
    }

    static func log(_ events: [TURNEvent], _ logger: Logger) {
        guard logger.logLevel <= .debug else { return }
        for e in events {
            switch e {
            case .allocationCreated(let transport, let families):
                logger.debug("allocation created", metadata: ["transport": "\(transport)", "families": "\(families)"])
            case .allocationDeleted(let reason, let seconds):
                logger.debug("allocation deleted", metadata: ["reason": "\(reason.rawValue)", "seconds": "\(seconds)"])
            case .requestFailed(let method, let code):
                logger.debug("request refused", metadata: ["method": "\(method)", "code": "\(code)"])
            case .peerDenied(let denial):
                logger.debug("peer refused", metadata: ["class": "\(denial.rawValue)"])
            case .allocationMoved(let across):
                logger.debug("allocation moved to its client's new address", metadata: ["across_workers": "\(across)"])
            case .fleetLegs:
                logger.debug("leg report from a fleet member")
            }
        }
    }
}

/// A reference to the server that does not keep it alive.
final class WeakServer: Sendable {
    weak let value: RelayServer?
    init(_ value: RelayServer) { self.value = value }
}
