import Foundation
import Logging
import STUN
import Synchronization
import TURN
import Testing

@testable import RelayConfig
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

@Suite("Leg reports across the fleet")
struct WireLegReportTests {
    @Test func aReportCrossesWithItsTimesOnTheReceiversClock() throws {
        var analyzer = TrafficAnalyzer()
        for i in 0..<60 {
            let seq = UInt16(i)
            let ts = UInt32(i * 960)
            let packet: [UInt8] =
                [
                    0x80, 111, UInt8(seq >> 8), UInt8(seq & 0xFF), UInt8(ts >> 24), UInt8((ts >> 16) & 0xFF), UInt8((ts >> 8) & 0xFF),
                    UInt8(ts & 0xFF), 0, 0, 0, 9,
                ]
                + [UInt8](repeating: 1, count: 80)
            packet.withUnsafeBytes { analyzer.observe($0, now: 5_000_000 + Int64(i) * 20_000) }
        }
        let tid = TransactionID.random()
        let leg = LegReport(
            legID: 42, device: "d", role: .app, transport: .tcp, startedUnix: 1_800_000_000, streams: Array(analyzer.streams.values),
            rtcpPackets: 3, dtlsStartedAt: 5_000_000, dtlsCompletedAt: 5_100_000, requests: [(tid, 6_000_000)], responses: [],
            telemetry: [LinkTelemetry(wifiRSSI: -50)], lastActivity: 6_180_000, ended: .connectionClosed, endedAt: 6_200_000,
            remotePartner: true)
        let body = try JSONEncoder().encode(WireLegReport(leg))
        #expect(body.count < 3600)
        let text = String(decoding: body, as: UTF8.self)
        #expect(!text.contains("127.0.0.1") && !text.contains("username"))
        let back = try #require(try JSONDecoder().decode(WireLegReport.self, from: body).legReport(shift: 1_000))
        #expect(back.legID == 42 && back.role == .app && back.transport == .tcp && back.ended == .connectionClosed)
        #expect(back.dtlsStartedAt == 5_001_000 && back.dtlsCompletedAt == 5_101_000 && back.lastActivity == 6_181_000)
        #expect(back.endedAt == 6_201_000 && back.requests.first?.0 == tid && back.requests.first?.1 == 6_001_000)
        #expect(back.streams.first?.firstArrival == leg.streams.first.map { $0.firstArrival + 1_000 })
        #expect(back.streams.first?.packets == 60 && back.telemetry == leg.telemetry)
    }
}
