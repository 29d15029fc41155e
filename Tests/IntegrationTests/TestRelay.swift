import Logging
import RelayIO
import RelayServer
import STUN
import Sessions
import TURN

/// An in-process relay on loopback for the integration tests: port 0 for its listeners, relay
/// ports from `ports`, no statistics lines and no session log unless asked.
enum TestRelay {
    static func configuration(ports: ClosedRange<UInt16>, udp: Bool = true, tcp: Bool = true) -> RelayConfiguration {
        var c = RelayConfiguration()
        c.listen = udp ? [TransportAddress(ip: .v4(0x7F00_0001), port: 0)] : []
        c.tcpListen = tcp ? [TransportAddress(ip: .v4(0x7F00_0001), port: 0)] : []
        c.minPort = ports.lowerBound
        c.maxPort = ports.upperBound
        c.statsInterval = 0
        c.sessionLog = nil
        return c
    }

    /// A started relay with `configure` applied to `configuration(ports:)`.
    static func start(
        ports: ClosedRange<UInt16>, udp: Bool = true, tcp: Bool = true, sinks: [any SessionSink] = [], clock: WorkerClock = .system,
        _ configure: (inout RelayConfiguration) -> Void = { _ in }
    ) throws -> RelayServer {
        var c = configuration(ports: ports, udp: udp, tcp: tcp)
        configure(&c)
        let server = try RelayServer(
            configuration: c, sinks: sinks, clock: clock, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        server.start()
        return server
    }
}
