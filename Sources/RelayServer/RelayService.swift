import Dispatch
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The relay as a swift-service-lifecycle `Service`: `run()` starts the workers and returns after
/// a graceful shutdown (SIGTERM, SIGINT: every allocation freed, the final session records
/// written) or after a drain (SIGUSR1: live calls end on their own, up to `drain-timeout`);
/// SIGHUP re-reads the configuration and reloads what may change live. The admin API, metrics
/// and store join the same `ServiceGroup`.
public final class RelayService: Service, Sendable {
    public let server: RelayServer
    /// Reads the configuration again (file, environment, flags), for SIGHUP.
    let readConfiguration: @Sendable () throws -> RelayConfiguration
    let logger: Logger

    /// Serving and not draining (`isReady`).
    let readyState = Mutex(false)
    /// Drain requests: SIGUSR1, or the admin API's `POST /v1/drain`.
    let drainRequests: AsyncStream<Void>
    let drainRequester: AsyncStream<Void>.Continuation

    public init(server: RelayServer, logger: Logger, readConfiguration: @escaping @Sendable () throws -> RelayConfiguration) {
        self.server = server
        self.logger = logger
        self.readConfiguration = readConfiguration
        (drainRequests, drainRequester) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Starts a drain, as SIGUSR1 does; a second request while draining changes nothing.
    public func requestDrain() {
        drainRequester.yield()
    }

    public func run() async throws {
        server.start()
        setReady(true)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() { reload() }
            }
            group.addTask { [self] in
                for await _ in await UnixSignalsSequence(trapping: .sigusr1).cancelOnGracefulShutdown() { requestDrain() }
            }
            group.addTask { [self] in
                for await _ in drainRequests.cancelOnGracefulShutdown() {
                    await drain()
                    return
                }
            }
            if server.discovery != nil {
                group.addTask { [server] in
                    let interval = server.configuration.fleetRefresh
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(interval))
                        if Task.isCancelled { break }
                        // getaddrinfo blocks: off the cooperative pool.
                        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                            DispatchQueue.global().async {
                                server.refreshFleet()
                                done.resume()
                            }
                        }
                    }
                }
            }
            // Returns when the group starts a graceful shutdown (SIGTERM, SIGINT), also during a
            // drain: that stops at once, still writing every final record.
            group.addTask { try? await gracefulShutdown() }
            _ = await group.next()
            group.cancelAll()
        }
        setReady(false)
        logger.info("shutting down")
        // `stop` blocks until every worker has finished; keep it off the cooperative pool.
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async { [server] in
                server.stop()
                done.resume()
            }
        }
    }

    /// SIGHUP (and `POST /v1/reload`): the configuration as it reads now, applied where it may
    /// change live.
    @discardableResult
    public func reload() -> ReloadOutcome {
        do {
            return server.reload(to: try readConfiguration())
        } catch {
            logger.error("configuration reload refused, nothing changed", metadata: ["reason": "\(error)"])
            return ReloadOutcome(refused: "\(error)")
        }
    }

    /// SIGUSR1: not ready, no new calls, and back when the live ones have ended (their final
    /// records written) or `drain-timeout` has passed.
    func drain() async {
        server.startDrain()
        setReady(false)
        let timeout = server.configuration.drainTimeout
        let deadline = ContinuousClock.now + .seconds(timeout)
        while !server.isIdle && ContinuousClock.now < deadline && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(200))
        }
        if Task.isCancelled { return }
        logger.notice(
            server.isIdle ? "drained: every call has ended" : "drain timeout: ending the calls still live",
            metadata: ["allocations": "\(server.stats().allocations)", "sessions": "\(server.sessions.activeSessions)"])
    }

    /// Serving and not draining (`GET /readyz`, the `ready-file`).
    public var isReady: Bool { readyState.withLock { $0 } }

    /// The readiness file (`ready-file`): present while serving and not draining.
    func setReady(_ ready: Bool) {
        readyState.withLock { $0 = ready }
        guard let path = server.configuration.readyFile else { return }
        if ready {
            if !FileManager.default.createFile(atPath: path, contents: Data("serving\n".utf8)) {
                logger.error("cannot create the ready file", metadata: ["path": "\(path)"])
            }
        } else {
            try? FileManager.default.removeItem(atPath: path)
        }
    }
}
