import STUN
import TestSupport
import Testing

@testable import TURN

@Suite("Hairpin: allocation to allocation in process (DESIGN §4)")
struct HairpinTests {
    /// Robot at clientA and app at clientB, both allocated, each allowed to reach the other.
    struct Two {
        let h: EngineHarness
        var robot = TestClient(username: "alice", password: "wonderland")
        var app = TestClient(username: "bob", password: "builder")
        let robotRelayed: TransportAddress
        let appRelayed: TransportAddress

        init(hairpin: Bool = true) throws {
            h = EngineHarness(allow: [CIDR("198.51.100.0/24")!]) { $0.hairpin = hairpin }
            robotRelayed = try #require(h.allocate(&robot, from: clientA))
            appRelayed = try #require(h.allocate(&app, from: clientB))
        }
    }

    @Test func channelDataGoesStraightToThePartnersClient() throws {
        let t = try Two()
        #expect(t.h.answer(t.robot.channelBind(0x4000, t.appRelayed), clientA)?.messageClass == .successResponse)
        #expect(t.h.answer(t.app.channelBind(0x4005, t.robotRelayed), clientB)?.messageClass == .successResponse)
        let out = t.h.fromClient(TestClient.channelData(0x4000, [1, 2, 3]), clientA)
        // One datagram, from the listener to the app's client, on the app's channel for the robot.
        #expect(out.count == 1)
        #expect(out.first?.socket == EngineHarness.listener && out.first?.destination == clientB)
        #expect(out.first?.bytes == [0x40, 0x05, 0, 3, 1, 2, 3])
        #expect(t.h.engine.stats.hairpinned == 1)
    }

    @Test func dataIndicationWhenThePartnerHasNoChannel() throws {
        let t = try Two()
        #expect(t.h.answer(t.robot.createPermission([t.appRelayed]), clientA)?.messageClass == .successResponse)
        #expect(t.h.answer(t.app.createPermission([t.robotRelayed]), clientB)?.messageClass == .successResponse)
        let out = t.h.fromClient(TestClient.sendIndication(to: t.appRelayed, data: [9, 9]), clientA)
        let m = try #require(out.first?.message)
        #expect(out.count == 1 && out.first?.destination == clientB)
        #expect(m.method == .data && m.value(.data).map(Array.init) == [9, 9])
        #expect(try m.xorAddress(.xorPeerAddress) == t.robotRelayed)
    }

    @Test func withoutThePartnersPermissionItIsDroppedAsTheKernelPathWouldBe() throws {
        let t = try Two()
        #expect(t.h.answer(t.robot.channelBind(0x4000, t.appRelayed), clientA)?.messageClass == .successResponse)
        #expect(t.h.fromClient(TestClient.channelData(0x4000, [1]), clientA).isEmpty)
        // The app's permission expires: the route knows.
        #expect(t.h.answer(t.app.createPermission([t.robotRelayed]), clientB)?.messageClass == .successResponse)
        #expect(t.h.fromClient(TestClient.channelData(0x4000, [1]), clientA).count == 1)
        t.h.advance(seconds: 301)
        var robot = t.robot
        _ = t.h.authenticated(&robot, from: clientA) { $0.channelBind(0x4000, t.appRelayed) }  // robot's side stays fresh
        #expect(t.h.fromClient(TestClient.channelData(0x4000, [1]), clientA).isEmpty)
    }

    @Test(arguments: [true, false])
    func bothPathsGiveTheEndpointTheSameBytes(channel: Bool) throws {
        var delivered: [[UInt8]] = []
        for hairpin in [true, false] {
            let t = try Two(hairpin: hairpin)
            #expect(t.h.answer(t.robot.channelBind(0x4000, t.appRelayed), clientA)?.messageClass == .successResponse)
            let appGrant = channel ? t.app.channelBind(0x4007, t.robotRelayed) : t.app.createPermission([t.robotRelayed])
            #expect(t.h.answer(appGrant, clientB)?.messageClass == .successResponse)
            var out = t.h.fromClient(TestClient.channelData(0x4000, [5, 6, 7, 8, 9]), clientA)
            if !hairpin {
                // The kernel path: the datagram leaves the robot's relay socket and arrives on the app's.
                let sent = try #require(out.first)
                #expect(sent.destination == t.appRelayed)
                out = t.h.fromPeer(sent.bytes, t.robotRelayed, relay: try #require(t.h.relaySocket(for: t.appRelayed)))
            }
            let toApp = try #require(out.first)
            #expect(toApp.destination == clientB)
            // Data indications carry a fresh transaction id each; compare what the app decodes.
            delivered.append(
                channel
                    ? toApp.bytes
                    : Array(try #require(toApp.message?.value(.data)))
                        + (try #require(toApp.message).xorAddress(.xorPeerAddress)?.description.utf8.map { $0 } ?? []))
        }
        #expect(delivered[0] == delivered[1])
    }

    @Test func aDatagramTooBigForADataIndicationIsDroppedNotMangled() throws {
        let h = EngineHarness(allow: [CIDR("198.51.100.0/24")!])
        var robot = TestClient(username: "alice", password: "wonderland")
        var app = TestClient(username: "bob", password: "builder")
        let robotRelayed = try #require(h.allocate(&robot, from: clientA, transport: .tcp))  // streams carry 64 KiB
        let appRelayed = try #require(h.allocate(&app, from: clientB))
        #expect(h.answer(robot.channelBind(0x4000, appRelayed), clientA, transport: .tcp)?.messageClass == .successResponse)
        #expect(h.answer(app.createPermission([robotRelayed]), clientB)?.messageClass == .successResponse)  // no channel
        let big = TestClient.channelData(0x4000, [UInt8](repeating: 1, count: 65_532), padded: true)
        let dropped = h.engine.stats.dropped
        #expect(h.fromClient(big, clientA, transport: .tcp).isEmpty)
        #expect(h.engine.stats.dropped == dropped + 1)
        // A Data indication's length field would have wrapped; one that fits still goes through.
        let fits = h.fromClient(TestClient.channelData(0x4000, [UInt8](repeating: 1, count: 1000), padded: true), clientA, transport: .tcp)
        #expect(fits.first?.message?.value(.data)?.count == 1000)
    }

    @Test func offMeansTheKernelPath() throws {
        let t = try Two(hairpin: false)
        #expect(t.h.answer(t.robot.channelBind(0x4000, t.appRelayed), clientA)?.messageClass == .successResponse)
        let out = t.h.fromClient(TestClient.channelData(0x4000, [1, 2]), clientA)
        #expect(out.count == 1 && out.first?.destination == t.appRelayed && out.first?.bytes == [1, 2])
        #expect(t.h.resources.routes.isEmpty)
    }

    @Test func routesFollowTheAllocation() throws {
        let t = try Two()
        #expect(t.h.resources.routes[t.appRelayed]?.client == clientB)
        #expect(t.h.answer(t.app.refresh(lifetime: 0), clientB)?.messageClass == .successResponse)
        #expect(t.h.resources.routes[t.appRelayed] == nil)
        // Gone: a packet for that address takes the ordinary way.
        #expect(t.h.answer(t.robot.createPermission([t.appRelayed]), clientA)?.messageClass == .successResponse)
        let out = t.h.fromClient(TestClient.sendIndication(to: t.appRelayed, data: [1]), clientA)
        #expect(out.first?.destination == t.appRelayed)
    }
}
