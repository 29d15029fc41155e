import Dispatch
import Foundation
import Logging
import RelayIO
import STUN
import TURN

/// The relay put together: configuration → engines, workers, sockets; events → logs.
/// Logs carry counts and RFC codes, never an address, a username or payload.
/// `start` and `stop` may come from any thread; the stats timer is guarded by `lock`.
public final class RelayServer: @unchecked Sendable {
    public let configuration: RelayConfiguration
    let workers: [Worker]
    let pool: RelayPortPool
    let quota: AllocationQuota
    let logger: Logger
    private let lock = NSLock()
    private var statsTimer: DispatchSourceTimer?

    /// Builds the engines and binds every listener; throws if a socket cannot be opened.
    public init(configuration c: RelayConfiguration, logger: Logger) throws(SocketError) {
        self.configuration = c
        self.logger = logger
        let count = c.workers > 0 ? c.workers : max(1, ProcessInfo.processInfo.activeProcessorCount)
        // Every worker binds each listening address with SO_REUSEPORT; port 0 is resolved by the
        // first bind so that the other workers join the same port.
        var addresses = c.listen
        var sockets: [[(Int32, TransportAddress)]] = []
        for _ in 0..<count {
            var mine: [(Int32, TransportAddress)] = []
            for (n, address) in addresses.enumerated() {
                switch SocketAddress.bindUDP(address, reusePort: true) {
                case .success(let fd):
                    let bound = SocketAddress.localAddress(fd) ?? address
                    addresses[n] = bound
                    mine.append((fd, bound))
                case .failure(let e):
                    for s in sockets.flatMap({ $0 }) + mine { close(s.0) }
                    throw e
                }
            }
            sockets.append(mine)
        }
        let authenticator = Authenticator(
            realm: c.realm, users: c.users, secrets: c.authSecrets, nonceLifetimeSeconds: c.nonceLifetime,
            nonceKey: STUNCrypto.randomBytes(32))
        let policy = PeerPolicy(
            allow: c.allowPeers, ownAddresses: Set(c.relayAddresses + addresses.map(\.ip)),
            listenerAddresses: Set(addresses))
        var engineConfiguration = TURNEngineConfiguration(realm: c.realm, authenticator: authenticator, peerPolicy: policy)
        engineConfiguration.defaultLifetime = c.defaultLifetime
        engineConfiguration.maxLifetime = c.maxLifetime
        engineConfiguration.channelRange = c.channelRange == "rfc5766" ? STUNDataPath.legacyChannelRange : STUNDataPath.channelRange
        engineConfiguration.software = "av1relay \(RelayVersion.current)"
        let pool = RelayPortPool(addresses: c.relayAddresses, range: c.minPort...c.maxPort)
        let quota = AllocationQuota(maxPerUser: c.userQuota, maxTotal: c.totalQuota)
        self.pool = pool
        self.quota = quota
        let workers = (0..<count).map { Worker(index: $0, configuration: engineConfiguration, pool: pool, quota: quota) }
        self.workers = workers
        for (worker, fds) in zip(workers, sockets) {
            worker.start(listening: fds) { [logger] events in RelayServer.log(events, logger) }
        }
    }

    /// The addresses actually listened on (the port the kernel chose for port 0).
    public var listeningAddresses: [TransportAddress] { workers.first?.listeningAddresses ?? [] }

    public func start() {
        logger.info(
            "av1relay serving",
            metadata: [
                "listeners": "\(configuration.listen.count)", "workers": "\(workers.count)",
                "relay_ports": "\(configuration.minPort)-\(configuration.maxPort)",
                "static_users": "\(configuration.users.count)", "rest_secrets": "\(configuration.authSecrets.count)",
            ])
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
    public func stats() -> (stats: TURNStats, allocations: Int) {
        workers.map { $0.snapshot() }.reduce((TURNStats(), 0)) { ($0.0 + $1.stats, $0.1 + $1.allocations) }
    }

    func logStats() {
        let (s, allocations) = stats()
        logger.info(
            "stats",
            metadata: [
                "allocations": "\(allocations)", "from_clients": "\(s.packetsFromClients)",
                "to_peers": "\(s.packetsToPeers)", "from_peers": "\(s.packetsFromPeers)",
                "to_clients": "\(s.packetsToClients)", "dropped": "\(s.dropped)", "malformed": "\(s.malformed)",
                "requests": "\(s.requests)", "error_responses": "\(s.errorResponses)",
            ])
    }

    /// Frees every allocation, closes every socket; blocks until the workers are done.
    public func stop() {
        lock.withLock { statsTimer?.cancel() }
        for w in workers { w.stop() }
        pool.closeReservations()
        logStats()
        logger.info("av1relay stopped")
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
                logger.debug("request refused", metadata: ["method": "\(method.rawValue)", "code": "\(code)"])
            case .peerDenied(let denial):
                logger.debug("peer refused", metadata: ["class": "\(denial.rawValue)"])
            }
        }
    }
}
