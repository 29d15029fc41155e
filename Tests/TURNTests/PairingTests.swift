import STUN
import TestSupport
import Testing

@testable import TURN

@Suite("Pairing enforcement (DESIGN §4)")
struct PairingTests {
    static func harness() -> EngineHarness {
        EngineHarness(users: ["plain": "pw", "robot:r1": "pw", "app:r1": "pw", "app:r2": "pw"]) { $0.pairing = true }
    }

    static func rest(_ h: EngineHarness, _ identity: String) -> TestClient {
        let c = Authenticator.restCredential(secret: EngineHarness.secret, expiry: h.now.unixSeconds + 3600, identity: identity)
        return TestClient(username: c.username, password: c.password)
    }

    @Test(arguments: [
        ("1800003600:robot:42", Identity.Role.robot, "42"), ("1800003600:app:42", .app, "42"), ("robot:abc", .robot, "abc"),
        ("app:x:y", .app, "x:y"),
    ])
    func identities(username: String, role: Identity.Role, device: String) {
        let i = Identity(username: username)
        #expect(i.role == role && i.device == device)
    }

    @Test(arguments: ["1800003600:alice", "alice", "robot:", "1800003600:robot:", "robots:1", "app"])
    func plainIdentities(username: String) {
        #expect(!Identity(username: username).isPaired)
    }

    @Test func plainCredentialsCannotAllocateWhenEnforced() throws {
        let h = Self.harness()
        var plain = TestClient(username: "plain", password: "pw")
        #expect(h.authenticated(&plain, from: clientA) { $0.allocate() }?.code == 403)
        #expect(h.engine.allocationCount == 0 && h.resources.allocations == 0)
    }

    @Test func partnersReachEachOtherAndNobodyElse() throws {
        let h = Self.harness()
        var robot = Self.rest(h, "robot:42")
        var app = Self.rest(h, "app:42")
        var stranger = Self.rest(h, "app:99")
        let robotRelayed = try #require(h.allocate(&robot, from: clientA))
        let appRelayed = try #require(h.allocate(&app, from: clientB))
        let strangerAddress = TransportAddress("192.0.2.99:5000")!
        let strangerRelayed = try #require(h.allocate(&stranger, from: strangerAddress))
        #expect(h.resources.pairing.count == 3)

        // The robot may reach the app's relayed and client addresses, nothing else.
        #expect(h.answer(robot.channelBind(0x4000, appRelayed), clientA)?.messageClass == .successResponse)
        #expect(h.answer(robot.createPermission([clientB]), clientA)?.messageClass == .successResponse)
        #expect(h.answer(robot.createPermission([strangerRelayed]), clientA)?.code == 403)
        #expect(h.answer(robot.createPermission([publicPeer]), clientA)?.code == 403)
        #expect(h.answer(robot.createPermission([TransportAddress(ip: appRelayed.ip, port: appRelayed.port &+ 1)]), clientA)?.code == 403)
        #expect(h.answer(robot.channelBind(0x4001, EngineHarness.server), clientA)?.code == 403)
        // A robot is not an app's partner of another device, nor of itself.
        #expect(h.answer(stranger.createPermission([robotRelayed]), strangerAddress)?.code == 403)
        #expect(h.answer(app.createPermission([robotRelayed]), clientB)?.messageClass == .successResponse)
        #expect(h.events.contains(.peerDenied(.notPartner)))
    }

    @Test func dataOnlyFromThePartnersExactAddress() throws {
        let h = Self.harness()
        var robot = Self.rest(h, "robot:7")
        var app = Self.rest(h, "app:7")
        _ = try #require(h.allocate(&robot, from: clientA))
        let appRelayed = try #require(h.allocate(&app, from: clientB))
        let robotRelayed = try #require(h.resources.pairing.first { $0.role == .robot }?.addresses.first)
        let robotSocket = try #require(h.relaySocket(for: robotRelayed))
        #expect(h.answer(robot.createPermission([appRelayed]), clientA)?.messageClass == .successResponse)
        // Same IP as the partner (every relayed address on a relay shares it), other port: dropped.
        let sameIP = TransportAddress(ip: appRelayed.ip, port: appRelayed.port &+ 3)
        #expect(h.fromPeer([1, 2, 3], sameIP, relay: robotSocket).isEmpty)
        #expect(h.fromClient(TestClient.sendIndication(to: sameIP, data: [1]), clientA).isEmpty)
        #expect(h.fromPeer([1, 2, 3], appRelayed, relay: robotSocket).count == 1)
        // Robot → app is delivered in process (hairpin) once the app has permitted the robot.
        #expect(h.fromClient(TestClient.sendIndication(to: appRelayed, data: [1]), clientA).isEmpty)
        #expect(h.answer(app.createPermission([robotRelayed]), clientB)?.messageClass == .successResponse)
        let delivered = h.fromClient(TestClient.sendIndication(to: appRelayed, data: [1]), clientA)
        #expect(delivered.count == 1 && delivered.first?.destination == clientB)
    }

    @Test func partnerGoneMeansNoNewPermissions() throws {
        let h = Self.harness()
        var robot = Self.rest(h, "robot:5")
        var app = Self.rest(h, "app:5")
        _ = try #require(h.allocate(&robot, from: clientA))
        let appRelayed = try #require(h.allocate(&app, from: clientB))
        #expect(h.answer(app.refresh(lifetime: 0), clientB)?.messageClass == .successResponse)
        #expect(h.resources.pairing.count == 1)
        #expect(h.answer(robot.createPermission([appRelayed]), clientA)?.code == 403)
    }

    @Test func offByDefaultPlainIdentitiesWork() throws {
        let h = EngineHarness(allow: [CIDR("198.51.100.0/24")!])
        var c = TestClient(username: "alice", password: "wonderland")
        _ = try #require(h.allocate(&c, from: clientA))
        #expect(h.answer(c.createPermission([publicPeer]), clientA)?.messageClass == .successResponse)
        #expect(h.resources.pairing.isEmpty)
    }
}
