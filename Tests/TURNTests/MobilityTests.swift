import STUN
import TestSupport
import Testing

@testable import TURN

/// RFC 8016: a client that asked for a MOBILITY-TICKET takes its allocation to a new 5-tuple with
/// a Refresh; a ticket that is forged, stale, spent or someone else's moves nothing.
@Suite("Mobility (RFC 8016)")
struct MobilityTests {
    static let key = [UInt8](repeating: 0x5A, count: 32)
    /// The robot's new address after it switched from Wi-Fi to 4G (another IP: the nonce, bound to
    /// the old IP, is stale there and gets a 438 first).
    static let roamed = TransportAddress("203.0.113.50:41000")!
    static let elsewhere = TransportAddress("203.0.113.77:42000")!

    static func harness(worker: UInt16 = 0, pairing: Bool = false, mobility: Bool = true) -> EngineHarness {
        let h = EngineHarness(
            allow: [CIDR("8.8.8.0/24")!], users: ["alice": "wonderland", "bob": "builder", "robot:r1": "pw", "app:r1": "pw"]
        ) {
            $0.mobilityKey = mobility ? key : nil
            $0.pairing = pairing
        }
        h.engine.workerIndex = worker
        return h
    }

    /// A mobile allocation with a channel to `publicPeer`; returns the ticket and the relayed address.
    static func mobileAllocation(
        _ h: EngineHarness, _ client: inout TestClient, from address: TransportAddress = clientA, transport: TransportProtocol = .udp,
        peer: TransportAddress = publicPeer
    ) throws -> (ticket: [UInt8], relayed: TransportAddress) {
        let r = try #require(
            h.authenticated(&client, from: address, transport: transport) { c in c.allocate { b in b.append(.mobilityTicket, []) } })
        #expect(r.messageClass == .successResponse)
        let ticket = try #require(r.value(.mobilityTicket).map(Array.init))
        let relayed = try #require(try r.xorAddress(.xorRelayedAddress))
        #expect(h.answer(client.channelBind(0x4000, peer), address, transport: transport)?.messageClass == .successResponse)
        return (ticket, relayed)
    }

    static func roam(_ client: TestClient, ticket: [UInt8], lifetime: UInt32 = 600) -> (TestClient) -> [UInt8] {
        { c in
            c.request(.refresh) { b in
                b.append(.lifetime, uint32: lifetime)
                b.append(.mobilityTicket, ticket)
            }
        }
    }

    @Test func anAllocateThatAsksGetsATicketAndOnlyThen() throws {
        let h = Self.harness()
        var alice = TestClient(username: "alice", password: "wonderland")
        let (ticket, _) = try Self.mobileAllocation(h, &alice)
        #expect(ticket.count == MobilityTicket.size)
        #expect(MobilityTicket(opening: ticket, key: Self.key)?.generation == 0)
        // Every Refresh brings a fresh one (a later expiry), for the same generation: printable, as
        // coturn's client keeps it in a C string.
        #expect(ticket.allSatisfy { $0 > 0x20 && $0 < 0x7F })
        h.advance(seconds: 10)
        let refreshed = try #require(h.answer(alice.refresh(lifetime: 600), clientA))
        let again = try #require(refreshed.value(.mobilityTicket).map(Array.init))
        #expect(again != ticket && MobilityTicket(opening: again, key: Self.key)?.generation == 0)

        var bob = TestClient(username: "bob", password: "builder")
        let plain = try #require(h.authenticated(&bob, from: clientB) { $0.allocate() })
        #expect(plain.messageClass == .successResponse && !plain.contains(.mobilityTicket))
        #expect(h.answer(bob.refresh(lifetime: 600), clientB).map { $0.contains(.mobilityTicket) } == false)
    }

    @Test func mobilityOffIs405AndATicketInAnAllocateIs400() throws {
        let off = Self.harness(mobility: false)
        var alice = TestClient(username: "alice", password: "wonderland")
        #expect(off.authenticated(&alice, from: clientA) { c in c.allocate { b in b.append(.mobilityTicket, []) } }?.code == 405)
        #expect(off.engine.allocationCount == 0)

        let on = Self.harness()
        var bob = TestClient(username: "bob", password: "builder")
        #expect(on.authenticated(&bob, from: clientB) { c in c.allocate { b in b.append(.mobilityTicket, [1, 2, 3, 4]) } }?.code == 400)
        #expect(on.engine.allocationCount == 0)
    }

    @Test func aRefreshWithTheTicketFromANewAddressMovesEverything() throws {
        let h = Self.harness()
        var alice = TestClient(username: "alice", password: "wonderland")
        let (ticket, relayed) = try Self.mobileAllocation(h, &alice)
        let socket = try #require(h.relaySocket(for: relayed))
        // A Refresh from the new IP: 438 for the nonce bound to the old one, then the move.
        let moved = try #require(h.authenticated(&alice, from: Self.roamed, Self.roam(alice, ticket: ticket)))
        #expect(moved.messageClass == .successResponse)
        #expect(moved.verifyIntegrity(key: alice.key) == true)
        let next = try #require(moved.value(.mobilityTicket).map(Array.init))
        #expect(MobilityTicket(opening: next, key: Self.key)?.generation == 1)
        #expect(h.events.contains(.allocationMoved(acrossWorkers: false)))

        // The same relayed address, socket and channel: data flows both ways from the new address.
        #expect(h.engine.allocationCount == 1 && h.resources.open.count == 1)
        let out = h.fromClient(TestClient.channelData(0x4000, [1, 2, 3]), Self.roamed)
        #expect(out.count == 1 && out.first?.socket == socket && out.first?.destination == publicPeer)
        let back = h.fromPeer([9, 9], publicPeer, relay: socket)
        #expect(back.count == 1 && back.first?.destination == Self.roamed)
        // The old address has nothing any more.
        #expect(h.fromClient(TestClient.channelData(0x4000, [1]), clientA).isEmpty)
        #expect(h.authenticated(&alice, from: clientA) { $0.refresh(lifetime: 600) }?.code == 437)
        // Lifetime, refreshes and the end work at the new address.
        #expect(h.authenticated(&alice, from: Self.roamed) { $0.refresh(lifetime: 0) }?.messageClass == .successResponse)
        #expect(h.engine.allocationCount == 0 && h.resources.open.isEmpty)
    }

    @Test func forgedStaleSpentAndForeignTicketsMoveNothing() throws {
        let h = Self.harness()
        var alice = TestClient(username: "alice", password: "wonderland")
        let (ticket, relayed) = try Self.mobileAllocation(h, &alice)
        let socket = try #require(h.relaySocket(for: relayed))
        func stillAt(_ address: TransportAddress) {
            #expect(h.fromPeer([7], publicPeer, relay: socket).first?.destination == address)
        }

        // Forged: one character changed anywhere (cipher block or MAC), or made up, or sealed by another key.
        for i in [0, 15, ticket.count - 1] {
            var forged = ticket
            forged[i] = forged[i] == UInt8(ascii: "B") ? UInt8(ascii: "C") : UInt8(ascii: "B")
            #expect(h.authenticated(&alice, from: Self.roamed, Self.roam(alice, ticket: forged))?.code == 437)
        }
        #expect(
            h.authenticated(&alice, from: Self.roamed, Self.roam(alice, ticket: Array(repeating: UInt8(ascii: "A"), count: 32)))?.code
                == 437)
        let foreign = MobilityTicket(worker: 0, allocation: 1, generation: 0, expiry: h.now.millis + 60_000)
            .sealed(key: Array(repeating: 1, count: 32))
        #expect(h.authenticated(&alice, from: Self.roamed, Self.roam(alice, ticket: foreign))?.code == 437)
        stillAt(clientA)

        // Someone else's credentials with a valid ticket: 441 (RFC 8016 §3.2).
        var bob = TestClient(username: "bob", password: "builder")
        #expect(h.authenticated(&bob, from: Self.elsewhere, Self.roam(bob, ticket: ticket))?.code == 441)
        stillAt(clientA)

        // Stale: the Allocate's ticket expired with the lifetime it was issued for, even though a
        // Refresh kept the allocation alive.
        h.advance(seconds: 500)
        let refreshed = try #require(h.authenticated(&alice, from: clientA) { $0.refresh(lifetime: 600) })
        let fresh = try #require(refreshed.value(.mobilityTicket).map(Array.init))
        #expect(h.answer(alice.channelBind(0x4000, publicPeer), clientA)?.messageClass == .successResponse)  // and the permission
        h.advance(seconds: 150)
        #expect(h.authenticated(&alice, from: Self.roamed, Self.roam(alice, ticket: ticket))?.code == 437)
        stillAt(clientA)

        // Spent: the ticket that moved it once cannot move it again (a replay from elsewhere).
        #expect(h.authenticated(&alice, from: Self.roamed, Self.roam(alice, ticket: fresh))?.messageClass == .successResponse)
        stillAt(Self.roamed)
        #expect(h.authenticated(&alice, from: Self.elsewhere, Self.roam(alice, ticket: fresh))?.code == 437)
        stillAt(Self.roamed)
        #expect(h.engine.allocationCount == 1)
        let refusals = h.events.filter { $0 == .requestFailed(method: .refresh, code: 437) }.count
        #expect(refusals == 7)
    }

    @Test func pairingFollowsTheRobotAndTheSessionIsOneLegWithItsGap() throws {
        let h = Self.harness(pairing: true)
        var robot = TestClient(username: "robot:r1", password: "pw")
        var app = TestClient(username: "app:r1", password: "pw")
        let appRelayed = try #require(h.allocate(&app, from: clientB))
        let (ticket, robotRelayed) = try Self.mobileAllocation(h, &robot, peer: appRelayed)
        #expect(h.answer(app.channelBind(0x4000, robotRelayed), clientB)?.messageClass == .successResponse)
        let rtp: [UInt8] = [0x80, 96, 0, 1] + Array(repeating: 0, count: 16)
        // The robot's media reaches the app through the hairpin; then 3 s of silence and the move.
        #expect(h.fromClient(TestClient.channelData(0x4000, rtp), clientA).first?.destination == clientB)
        let legBefore = try #require(h.engine.legReports().first { $0.role == .robot })
        h.advance(seconds: 2)
        #expect(h.authenticated(&robot, from: Self.roamed, Self.roam(robot, ticket: ticket))?.messageClass == .successResponse)
        #expect(h.resources.partnerAddresses(device: "r1", role: .robot) == [robotRelayed, Self.roamed])
        h.advance(seconds: 1)
        // Both ways, as before: the app's channel to the robot's relayed address reaches its new one.
        #expect(h.fromClient(TestClient.channelData(0x4000, rtp), Self.roamed).first?.destination == clientB)
        #expect(
            h.fromClient(TestClient.channelData(0x4000, [0x80, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]), clientB).first?.destination
                == Self.roamed)

        let leg = try #require(h.engine.legReports().first { $0.role == .robot })
        #expect(leg.legID == legBefore.legID)
        #expect(leg.moves == 1)
        #expect(leg.longestMoveGap == 3_000_000)
    }

    @Test func aClosedConnectionLeavesAMobileAllocationWaitingForItsTicket() throws {
        let h = Self.harness()
        var alice = TestClient(username: "alice", password: "wonderland")
        let (ticket, relayed) = try Self.mobileAllocation(h, &alice, transport: .tcp)
        let socket = try #require(h.relaySocket(for: relayed))
        h.engine.connectionClosed(h.tuple(clientA, .tcp), now: h.now, out: h.out)
        // Nothing reaches the closed connection; the relay socket stays open.
        #expect(h.fromPeer([1], publicPeer, relay: socket).isEmpty)
        #expect(h.engine.allocationCount == 1 && h.resources.open.count == 1)
        // The client comes back over a new connection (another transport, even) with its ticket.
        let back = try #require(h.authenticated(&alice, from: Self.roamed, transport: .tls, Self.roam(alice, ticket: ticket)))
        #expect(back.messageClass == .successResponse)
        let delivered = h.fromPeer([1, 2, 3, 4], publicPeer, relay: socket)
        #expect(delivered.first?.destination == Self.roamed && delivered.first?.bytes.count == 8)  // padded ChannelData on a stream

        // One that does not come back is gone after the grace (120 s), not after its lifetime.
        var bob = TestClient(username: "bob", password: "builder")
        _ = try Self.mobileAllocation(h, &bob, from: clientB, transport: .tcp)
        h.engine.connectionClosed(h.tuple(clientB, .tcp), now: h.now, out: h.out)
        #expect(h.engine.allocationCount == 2)
        h.advance(seconds: 121)
        #expect(h.engine.allocationCount == 1)
        // Without mobility the allocation goes with its connection (RFC 8656 §3.1).
        var plain = TestClient(username: "bob", password: "builder")
        #expect(h.allocate(&plain, from: otherClient, transport: .tcp) != nil)
        h.engine.connectionClosed(h.tuple(otherClient, .tcp), now: h.now, out: h.out)
        #expect(h.engine.allocationCount == 1)
    }

    @Test func aMoveAcrossWorkersHandsTheAllocationOver() throws {
        // Two workers of one relay: one key, two engines. The new 5-tuple lands on worker 1.
        let owner = Self.harness(worker: 0)
        let other = Self.harness(worker: 1)
        var alice = TestClient(username: "alice", password: "wonderland")
        let (ticket, relayed) = try Self.mobileAllocation(owner, &alice)
        let socket = try #require(owner.relaySocket(for: relayed))
        // Worker 1 answers nothing yet: the move goes to worker 0, which lets the allocation go.
        var roamer = alice
        let challenge = try #require(other.answer(Self.roam(roamer, ticket: ticket)(roamer), Self.roamed))
        let learned = roamer.learn(from: challenge)
        #expect(learned)
        let request = Self.roam(roamer, ticket: ticket)(roamer)
        #expect(other.fromClient(request, Self.roamed).isEmpty)
        // Its retransmission while the move is on its way is not a second move (coturn's client
        // sends every mobility Refresh twice).
        #expect(other.fromClient(request, Self.roamed).isEmpty)
        #expect(other.moves.count == 1)
        let move = try #require(other.moves.first)
        #expect(move.ticket.worker == 0)
        let allocation = try owner.engine.release(for: move)
        #expect(owner.engine.allocationCount == 0 && owner.resources.handedOver.map(\.socket) == [socket])
        #expect(owner.fromPeer([1], publicPeer, relay: socket).isEmpty)
        // Worker 1 adopts it and answers; the ticket it gives names worker 1.
        other.engine.adopt(allocation, move: move, now: other.now, out: other.out)
        let answer = try #require(other.collect().first?.message)
        #expect(answer.messageClass == .successResponse && answer.verifyIntegrity(key: roamer.key) == true)
        let next = try #require(answer.value(.mobilityTicket).flatMap { MobilityTicket(opening: $0, key: Self.key) })
        #expect(next.worker == 1 && next.generation == 1)
        #expect(other.events.contains(.allocationMoved(acrossWorkers: true)))
        #expect(other.resources.takenOver.map(\.socket) == [socket] && other.engine.allocationCount == 1)
        #expect(other.fromClient(TestClient.channelData(0x4000, [5]), Self.roamed).first?.destination == publicPeer)
        #expect(other.fromPeer([6], publicPeer, relay: socket).first?.destination == Self.roamed)
        // The spent ticket finds nothing on worker 0 any more, and the answer says so.
        #expect(throws: TURNRejection.allocationMismatch) { try owner.engine.release(for: move) }
        other.engine.refuse(move, .allocationMismatch, out: other.out)
        #expect(other.collect().first?.message?.code == 437)
    }
}

let otherClient = TransportAddress("192.0.2.12:40002")!
