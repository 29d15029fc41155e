import Dispatch
import Logging
import ServiceLifecycle
import UnixSignals

/// The relay as a swift-service-lifecycle `Service`: `run()` starts the workers and returns after
/// a graceful shutdown (SIGTERM, SIGINT: every allocation freed, the final session records
/// written); SIGHUP re-reads the configuration and reloads what may change live. The admin API,
/// metrics and store join the same `ServiceGroup`.
public final class RelayService: Service, Sendable {
    public let server: RelayServer
    /// Reads the configuration again (file, environment, flags), for SIGHUP.
    let readConfiguration: @Sendable () throws -> RelayConfiguration
    let logger: Logger

    public init(server: RelayServer, logger: Logger, readConfiguration: @escaping @Sendable () throws -> RelayConfiguration) {
        self.server = server
        self.logger = logger
        self.readConfiguration = readConfiguration
    }

    public func run() async throws {
        server.start()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() { reload() }
            }
            // Suspends until the group starts a graceful shutdown (or this task is cancelled).
            try? await gracefulShutdown()
            group.cancelAll()
        }
        logger.info("shutting down")
        // `stop` blocks until every worker has finished; keep it off the cooperative pool.
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async { [server] in
                server.stop()
                done.resume()
            }
        }
    }

    /// SIGHUP: the configuration as it reads now, applied where it may change live.
    public func reload() {
        do {
            server.reload(to: try readConfiguration())
        } catch {
            logger.error("configuration reload refused, nothing changed", metadata: ["reason": "\(error)"])
        }
    }
}
