import Logging
import STUN
import Synchronization
import TURN
import Testing

@testable import RelayServer

/// Fleet membership from DNS (issue 9: a Kubernetes headless Service of ready pods).
@Suite("Fleet membership from DNS")
struct FleetDiscoveryTests {
    @Test func recordsBecomeMembersNamedByIPOnThisRelaysPorts() throws {
        let answers = Mutex<[IPAddress]?>([IPAddress("10.1.0.5")!, IPAddress("10.1.0.4")!, IPAddress("10.1.0.5")!])
        let discovery = FleetDiscovery(name: "relays.av1.svc", port: 3478, tlsPort: 443) { _ in answers.withLock { $0 } }
        let members = try #require(discovery.members())
        #expect(members.map(\.name) == ["10.1.0.4", "10.1.0.5"])  // duplicates once, sorted
        #expect(members[0].address == TransportAddress("10.1.0.4:3478")! && members[0].tls == TransportAddress("10.1.0.4:443")!)
        answers.withLock { $0 = nil }
        #expect(discovery.members() == nil)  // a failed lookup is not an empty fleet
    }

    @Test func thisRelayIsInItsViewBeforeTheRecordsListIt() {
        let dns = [FleetMember(name: "10.1.0.4", address: TransportAddress("10.1.0.4:3478")!)]
        let view = RelayServer.view(self: "10.1.0.9", dns: dns, port: 3478, tlsPort: nil)
        #expect(view.selfName == "10.1.0.9" && view.members.map(\.name) == ["10.1.0.4", "10.1.0.9"])
        #expect(RelayServer.drainingView(view)?.members.map(\.name) == ["10.1.0.4"])
    }

    @Test func aRelayResolvesItsFleetAtStartAndOnRefresh() throws {
        var c = RelayConfiguration()
        c.listen = [TransportAddress("127.0.0.1:0")!]
        c.tcpListen = []
        c.minPort = 32450
        c.maxPort = 32499
        c.statsInterval = 0
        c.sessionLog = nil
        c.fleetDNS = "localhost"
        c.fleetSelf = "127.0.0.2"
        try c.validate()
        let server = try RelayServer(configuration: c, logger: Logger(label: "t") { _ in SwiftLogNoOpLogHandler() })
        let view = try #require(server.effectiveFleet)
        #expect(view.members.contains { $0.name == "127.0.0.1" } && view.members.contains { $0.name == "127.0.0.2" })
        #expect(view.members.allSatisfy { $0.address.port == server.udpAddresses.first?.port })
        #expect(!server.refreshFleet())  // the same records: nothing to push
    }

    @Test func configuration() {
        func failure(_ c: RelayConfiguration) -> String? {
            do {
                try c.validate()
                return nil
            } catch { return error.key }
        }
        var c = RelayConfiguration()
        c.fleetDNS = "relays"
        #expect(failure(c) == "fleet-self")
        c.fleetSelf = "relay-a"
        #expect(failure(c) == "fleet-self")  // with DNS, members are named by IP
        c.fleetSelf = "10.0.0.1"
        #expect(failure(c) == nil)
        c.fleetMembers = [FleetMember(name: "10.0.0.1", address: TransportAddress("10.0.0.1:3478")!)]
        #expect(failure(c) == "fleet-dns")
    }
}
