import Glibc
import Synchronization

/// The relay port ranges of the tests, in one place: a slice per test (or suite), none
/// overlapping another, all below Linux's ephemeral range (32768–60999 by default,
/// /proc/sys/net/ipv4/ip_local_port_range). Here rather than in IntegrationTests because
/// RelayIOTests bind real relay ports too, in parallel with the integration suites.
///
/// The kernel never gives a port below that range to a socket bound to port 0, so neither a
/// test's own client socket, nor a relay's listener on port 0, nor a helper (turnutils_peer,
/// coturn's turnserver) given a port from `freeUDPPort()` can take a port a relay is about to
/// open, and the exhaustion test's two ports are really its own. Coturn's relay range is here too.
public enum RelayPortRanges {
    // UDPRelayTests (in process)
    public static let udpDataBothWays: ClosedRange<UInt16> = 20000...20099
    public static let udpDeniedPeers: ClosedRange<UInt16> = 20100...20199
    public static let udpBadInput: ClosedRange<UInt16> = 20200...20299
    /// Exactly two ports: the third Allocate must get 508.
    public static let udpExhaustion: ClosedRange<UInt16> = 20300...20301
    // StreamRelayTests (in process)
    public static let tcpDataOverTCP: ClosedRange<UInt16> = 20400...20499
    public static let tcpGarbage: ClosedRange<UInt16> = 20500...20599
    public static let tcpVanishingClient: ClosedRange<UInt16> = 20600...20699
    public static let tcpTimeoutsAndCaps: ClosedRange<UInt16> = 20700...20799
    // PairingWireTests (in process)
    public static let pairingWire: ClosedRange<UInt16> = 20800...20899
    // StreamCloseTests and DatagramLimitTests (in process)
    public static let streamClose: ClosedRange<UInt16> = 20900...20999
    public static let datagramLimit: ClosedRange<UInt16> = 21000...21099
    /// MetricsCountTests (in process): exactly two ports, so that a third Allocate gets 508.
    public static let metricsRefusals: ClosedRange<UInt16> = 21100...21101
    /// ListenerPortTests (in process): relays that are started and stopped, never allocated on.
    public static let listenerPorts: ClosedRange<UInt16> = 21200...21209
    /// MobilityWireTests (in process): one allocation moved from socket to socket.
    public static let mobilityWire: ClosedRange<UInt16> = 21300...21399
    // The av1relay binary
    public static let coturnInterop: ClosedRange<UInt16> = 22000...22999
    public static let streamInterop: ClosedRange<UInt16> = 23000...23999
    public static let av1sim: ClosedRange<UInt16> = 24000...24999
    public static let sessionRecords: ClosedRange<UInt16> = 25000...25999
    /// coturn's own turnserver in the av1sim comparison (its --min-port/--max-port).
    public static let coturnServer: ClosedRange<UInt16> = 26000...26999
    /// RelayIOTests: `RelayPortPool` with real sockets, ten ports per test.
    public static let relayIOUnitTests: ClosedRange<UInt16> = 27000...27999
    /// StoreWireTests: two calls through the binary with its session store.
    public static let sessionStore: ClosedRange<UInt16> = 28000...28999
    /// AdminWireTests: a call through the binary watched through its admin API.
    public static let adminAPI: ClosedRange<UInt16> = 29000...29999
    /// The PostgreSQL servers the store tests start (`PostgresServer`), one port each.
    public static let postgresServers: ClosedRange<UInt16> = 30000...30099
    /// The Prometheus servers the metrics test starts, one port each.
    public static let prometheusServers: ClosedRange<UInt16> = 30100...30199
    /// MobilityWireTests: calls whose robot roams, through the binary.
    public static let mobilityCalls: ClosedRange<UInt16> = 30200...30399

    public static let all: [(name: String, range: ClosedRange<UInt16>)] = [
        ("udpDataBothWays", udpDataBothWays), ("udpDeniedPeers", udpDeniedPeers), ("udpBadInput", udpBadInput),
        ("udpExhaustion", udpExhaustion), ("tcpDataOverTCP", tcpDataOverTCP), ("tcpGarbage", tcpGarbage),
        ("tcpVanishingClient", tcpVanishingClient), ("tcpTimeoutsAndCaps", tcpTimeoutsAndCaps), ("pairingWire", pairingWire),
        ("streamClose", streamClose), ("datagramLimit", datagramLimit), ("metricsRefusals", metricsRefusals),
        ("mobilityWire", mobilityWire), ("mobilityCalls", mobilityCalls),
        ("coturnInterop", coturnInterop),
        ("streamInterop", streamInterop), ("av1sim", av1sim), ("sessionRecords", sessionRecords), ("coturnServer", coturnServer),
        ("relayIOUnitTests", relayIOUnitTests), ("sessionStore", sessionStore),
        ("adminAPI", adminAPI), ("postgresServers", postgresServers),
        ("prometheusServers", prometheusServers),
    ]

    static let nextFree = Atomic<Int>(0)

    /// A TCP port of `range` that 127.0.0.1 can bind now, for a helper server (PostgreSQL,
    /// Prometheus) given its port; taken in turn so that helpers of one run do not race for one.
    public static func freeTCPPort(in range: ClosedRange<UInt16>) -> UInt16? {
        for _ in 0..<range.count {
            let port = range.lowerBound + UInt16(nextFree.wrappingAdd(1, ordering: .relaxed).oldValue % range.count)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if bound == 0 { return port }
        }
        return nil
    }

    /// `--min-port`/`--max-port` for the av1relay binary.
    public static func arguments(_ range: ClosedRange<UInt16>) -> [String] {
        ["--min-port", "\(range.lowerBound)", "--max-port", "\(range.upperBound)"]
    }
}
