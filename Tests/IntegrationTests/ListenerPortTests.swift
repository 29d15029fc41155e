import Glibc
import STUN
import Sockets
import TestSupport
import Testing

extension IntegrationSuites {
    /// A relay asked for port 0 gets a port of its own. Linux hands a SO_REUSEPORT bind to port 0
    /// a port that another SO_REUSEPORT socket of the same user may already hold, and the two then
    /// share its datagrams: a robot's Allocate answered by one relay and its signed retry checked
    /// by another ("401 Wrong credentials", seen as a rare flake of the suite).
    @Suite("Listener ports")
    struct ListenerPortTests {
        @Test func aPortZeroListenerSharesItsPortWithNoOtherSocket() throws {
            // Many SO_REUSEPORT sockets on loopback port 0, as other relays would hold them (with the
            // kernel's choice, about one relay in ten lands on one of these).
            var limit = rlimit()
            getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
            let count = max(0, min(4000, Int(limit.rlim_cur) - 1000))
            var held: [Int32] = []
            var ports: Set<UInt16> = []
            defer { for fd in held { close(fd) } }
            for _ in 0..<count {
                guard case .success(let fd) = SocketAddress.bindUDP(TransportAddress(ip: .v4(0x7F00_0001), port: 0), reusePort: true)
                else { break }
                held.append(fd)
                if let port = SocketAddress.localAddress(fd)?.port { ports.insert(port) }
            }
            try #require(held.count >= 500, "could hold only \(held.count) sockets (RLIMIT_NOFILE \(limit.rlim_cur))")
            for _ in 0..<20 {
                let server = try TestRelay.start(ports: RelayPortRanges.listenerPorts, tcp: false)
                let port = try #require(server.udpAddresses.first?.port)
                server.stop()
                let shared = ports.contains(port)
                #expect(!shared, "the relay's port \(port) is shared with another SO_REUSEPORT socket")
            }
        }
    }
}
