import STUN
import TestSupport
import Testing

@testable import TURN

/// A fleet's home relays (DESIGN §8, issue 9): rendezvous hashing, and the 300 Try Alternate that
/// steers a device's first Allocate to its home.
@Suite("Fleet: home relays and redirects")
struct FleetTests {
    static func member(_ name: String, _ last: UInt32) -> FleetMember {
        FleetMember(
            name: name, address: TransportAddress(ip: .v4(0xC633_6400 | last), port: 3478),
            tls: TransportAddress(ip: .v4(0xC633_6400 | last), port: 443), tlsDomain: "\(name).relay.example")
    }

    static let members = (1...5).map { member("relay-\($0)", UInt32($0)) }

    @Test func devicesSpreadEvenlyAndAMemberLeavingMovesOnlyItsOwn() throws {
        let view = FleetView(selfName: "relay-1", members: Self.members)
        let devices = (0..<20_000).map { "robot-\($0)" }
        var counts: [String: Int] = [:]
        for d in devices { counts[try #require(view.home(of: d)).name, default: 0] += 1 }
        // 4000 each when even; within a few percent.
        for (name, n) in counts { #expect(abs(n - 4000) < 240, "\(name): \(n)") }
        // relay-3 leaves: its devices move, nobody else's does.
        let smaller = FleetView(selfName: "relay-1", members: Self.members.filter { $0.name != "relay-3" })
        for d in devices {
            let before = try #require(view.home(of: d)).name
            let after = try #require(smaller.home(of: d)).name
            if before != "relay-3" { #expect(after == before, "\(d) moved from \(before)") } else { #expect(after != "relay-3") }
        }
        // Every relay computes the same home, whatever its own name or the order of its list.
        let other = FleetView(selfName: "relay-4", members: Self.members.reversed())
        for d in devices.prefix(500) { #expect(other.home(of: d) == view.home(of: d)) }
    }

    /// A harness for relay `me` of the five, pairing on.
    static func harness(_ me: String, pairing: Bool = true) -> EngineHarness {
        EngineHarness {
            $0.pairing = pairing
            $0.fleet = FleetView(selfName: me, members: Self.members)
        }
    }

    /// A device whose home is not `me`, and its home.
    static func awayDevice(from me: String) throws -> (String, FleetMember) {
        let view = FleetView(selfName: me, members: members)
        for i in 0..<100 {
            let home = try #require(view.home(of: "d\(i)"))
            if home.name != me { return ("d\(i)", home) }
        }
        throw FleetTestError()
    }

    struct FleetTestError: Error {}

    @Test(arguments: [TransportProtocol.udp, .tcp, .tls])
    func anAuthenticatedAllocateAwayFromHomeIsRedirected(transport: TransportProtocol) throws {
        let h = Self.harness("relay-1")
        let (device, home) = try Self.awayDevice(from: "relay-1")
        var robot = PairingTests.rest(h, "robot:\(device)")
        // Unauthenticated: the usual 401, never a redirect.
        let challenge = try #require(h.answer(robot.allocate(), clientA, transport: transport))
        #expect(challenge.code == 401 && !challenge.contains(.alternateServer))
        let learned = robot.learn(from: challenge)
        #expect(learned)
        let answer = try #require(h.answer(robot.allocate(), clientA, transport: transport))
        #expect(answer.code == 300)
        #expect(try answer.plainAddress(.alternateServer) == home.address(for: transport))
        #expect(answer.text(.alternateDomain) == (transport == .tls ? home.tlsDomain : nil))
        #expect(answer.contains(.messageIntegrity) && answer.verifyIntegrity(key: robot.key) == true)
        #expect(h.engine.allocationCount == 0 && h.resources.allocations == 0)
        // As libwebrtc does: the redirected Allocate goes to the home with the 300's realm and
        // nonce, over TCP/TLS from a new connection (a new port), and must succeed there at once —
        // the members share the nonce key (here every harness's), and a nonce names the IP only.
        let nonce = try #require(answer.text(.nonce))
        #expect(answer.text(.realm) == EngineHarness.realm)
        robot.nonce = nonce
        let atHome = Self.harness(home.name)
        let moved = TransportAddress(ip: clientA.ip, port: clientA.port + 1)
        let served = try #require(atHome.answer(robot.allocate(), moved, transport: transport))
        #expect(served.messageClass == .successResponse, "\(served)")
        // Another IP presenting that nonce is challenged afresh.
        let elsewhere = try #require(Self.harness(home.name).answer(robot.allocate(), clientB, transport: transport))
        #expect(elsewhere.code == 438)
    }

    @Test func theHomeServesAndADeviceAlreadyHereStays() throws {
        let (device, home) = try Self.awayDevice(from: "relay-1")
        // On its home relay the device allocates.
        let atHome = Self.harness(home.name)
        var robot = PairingTests.rest(atHome, "robot:\(device)")
        #expect(atHome.authenticated(&robot, from: clientA) { $0.allocate() }?.messageClass == .successResponse)
        // Elsewhere, once one side is allocated there (a client that did not follow), its partner
        // joins it rather than being sent away.
        let away = Self.harness("relay-1", pairing: true)
        away.resources.registerPairing(PairingEntry(device: device, role: .robot, addresses: [clientA]))
        var app = PairingTests.rest(away, "app:\(device)")
        #expect(away.authenticated(&app, from: clientB) { $0.allocate() }?.messageClass == .successResponse)
    }

    @Test func withPairingOffOrNoFleetNothingChanges() throws {
        let (device, _) = try Self.awayDevice(from: "relay-1")
        for h in [Self.harness("relay-1", pairing: false), EngineHarness { $0.pairing = true }] {
            var robot = PairingTests.rest(h, "robot:\(device)")
            #expect(h.authenticated(&robot, from: clientA) { $0.allocate() }?.messageClass == .successResponse)
        }
    }
}
