import STUN
import TestSupport
import Testing

@testable import TURN

/// What an unauthenticated request — from an address anyone can spoof — draws from the relay,
/// in bytes out per byte in (issue 13). Each request type at its smallest: a bare header, an
/// Allocate with only REQUESTED-TRANSPORT. docs/PERFORMANCE.md keeps the table.
@Suite("Amplification: the answer to an unauthenticated request, against the request")
struct AmplificationTests {
    static func request(_ method: STUNMethod, _ build: (inout STUNMessageBuilder) -> Void = { _ in }) -> [UInt8] {
        var b = STUNMessageBuilder(method: method, class: .request, transactionID: .random())
        build(&b)
        return b.bytes
    }

    /// Every answer `bytes` draws, summed.
    static func drawn(_ bytes: [UInt8], _ h: EngineHarness, from client: TransportAddress = clientA) -> Int {
        h.fromClient(bytes, client).reduce(0) { $0 + $1.bytes.count }
    }

    @Test func everyUnauthenticatedRequestTypeStaysWithin4x() throws {
        let h = EngineHarness(realm: "av1relay")  // the default realm
        var alice = TestClient(username: "alice", password: "wonderland")
        #expect(h.allocate(&alice, from: clientB) != nil)
        let cases: [(String, [UInt8], TransportAddress, Int)] = [
            // The smallest Allocate that can succeed: a 401.
            ("Allocate", Self.request(.allocate) { $0.append(.requestedTransport, [17, 0, 0, 0]) }, clientA, 401),
            // One that cannot: told so at once.
            ("Allocate without REQUESTED-TRANSPORT", Self.request(.allocate), clientA, 400),
            // Methods that need an allocation, from a 5-tuple without one: 437 at once.
            ("Refresh", Self.request(.refresh), clientA, 437),
            ("CreatePermission", Self.request(.createPermission), clientA, 437),
            ("ChannelBind", Self.request(.channelBind), clientA, 437),
            // From the allocation's own 5-tuple, a request without credentials is challenged.
            ("Refresh of an allocation", Self.request(.refresh), clientB, 401),
            ("CreatePermission of an allocation", Self.request(.createPermission), clientB, 401),
            // A mobility Refresh from a new 5-tuple carries its 32-byte ticket: challenged.
            (
                "Refresh with a MOBILITY-TICKET", Self.request(.refresh) { $0.append(.mobilityTicket, Array(repeating: 65, count: 32)) },
                clientA, 401
            ),
            ("Binding", Self.request(.binding), clientA, 0),
            ("Binding from IPv6", Self.request(.binding), TransportAddress("[2001:db8::1]:40000")!, 0),
            ("Unknown method", Self.request(STUNMethod(rawValue: 0x0FF)), clientA, 400),
        ]
        for (name, bytes, client, code) in cases {
            let answers = h.fromClient(bytes, client)
            let out = answers.reduce(0) { $0 + $1.bytes.count }
            let factor = Double(out) / Double(bytes.count)
            #expect(answers.count == 1, "\(name): \(answers.count) answers")
            #expect((answers.first?.message?.code ?? 0) == code, "\(name)")
            #expect(factor <= 4, "\(name): \(bytes.count) B in, \(out) B out, \(factor)×")
        }
        // The 401 itself: REALM, NONCE and PASSWORD-ALGORITHMS (RFC 8489 §9.2.4), nothing more.
        let allocate = Self.request(.allocate) { $0.append(.requestedTransport, [17, 0, 0, 0]) }
        let challenge = try #require(h.answer(allocate, clientA))
        #expect(challenge.code == 401 && !challenge.contains(.software))
        #expect(challenge.text(.nonce)?.utf8.count == 24 && (try? challenge.errorCode())??.reason == "")
        // Header, ERROR-CODE without a reason phrase, REALM "av1relay", a 24-character NONCE,
        // PASSWORD-ALGORITHMS: 80 bytes, 4× the smallest request (coturn's is 80 too).
        #expect(Self.drawn(Self.request(.refresh), h, from: clientB) == 20 + 8 + 12 + 28 + 12)
        // A signed request without an allocation is still authenticated first: its 437 is signed.
        var bob = TestClient(username: "bob", password: "builder")
        h.learnNonce(&bob, from: clientA)
        let signed = try #require(h.authenticated(&bob, from: clientA) { $0.refresh(lifetime: 600) })
        #expect(signed.code == 437 && signed.verifyIntegrity(key: bob.key) == true)
        // The exact sizes docs/PERFORMANCE.md gives (answers without credentials carry no SOFTWARE).
        #expect(Self.drawn(Self.request(.refresh), h) == 20 + 28)  // 437 "Allocation Mismatch"
        #expect(Self.drawn(Self.request(.allocate), h) == 20 + 36)  // 400 "REQUESTED-TRANSPORT missing"
        #expect(Self.drawn(Self.request(STUNMethod(rawValue: 0x0FF)), h) == 20 + 24)  // 400 "Unknown method"
        let ticketed = Self.request(.refresh) { $0.append(.mobilityTicket, Array(repeating: 65, count: 32)) }
        #expect(ticketed.count == 56 && Self.drawn(ticketed, h) == 80)
        // An authenticated answer still says who it is.
        let allocated = try #require(h.authenticated(&bob, from: clientA) { $0.allocate() })
        #expect(allocated.messageClass == .successResponse && allocated.contains(.software))
    }

    /// Issue 13: 5000 401-provoking requests from one address within a second are mostly refused
    /// — dropped unanswered and counted — while other addresses go on as before.
    @Test func aFloodFromOneAddressIsMostlyRefused() throws {
        let h = EngineHarness {
            $0.sourceRate = 50; $0.sourceBurst = 200
        }
        let allocate = Self.request(.allocate) { $0.append(.requestedTransport, [17, 0, 0, 0]) }
        var answered = 0
        for i in 0..<5000 {
            if i % 5 == 0 { h.now = TURNTime(millis: h.now.millis + 1, unixSeconds: h.now.unixSeconds) }  // 1 s in all
            answered += h.fromClient(allocate, TransportAddress(ip: clientA.ip, port: UInt16(10_000 + i))).count
        }
        // The burst and one second's rate: 250 of 5000.
        #expect(answered >= 200 && answered <= 260, "\(answered) answered")
        #expect(h.engine.stats[dropped: .rateLimited] == 5000 - answered)
        // Another address is not held back, and the flooder is again after its bucket refilled.
        var alice = TestClient(username: "alice", password: "wonderland")
        #expect(h.allocate(&alice, from: clientB) != nil)
        #expect(h.fromClient(allocate, clientA).isEmpty)
        h.advance(seconds: 1)
        #expect(h.fromClient(allocate, clientA).count == 1)
        // Signed requests of a live allocation are not counted (only 401s and Allocates are).
        for _ in 0..<300 { #expect(h.answer(alice.refresh(lifetime: 600), clientB)?.messageClass == .successResponse) }
    }

    @Test func theLimiterForgetsIdleSourcesAndStaysBounded() {
        var limiter = SourceLimiter(rate: 10, burst: 2)
        let first = [limiter.admit(clientA.ip, now: 0), limiter.admit(clientA.ip, now: 0), limiter.admit(clientA.ip, now: 0)]
        #expect(first == [true, true, false])
        let refilled = limiter.admit(clientA.ip, now: 100)  // one token a tenth of a second
        let other = limiter.admit(clientB.ip, now: 100)
        #expect(refilled && other && limiter.sources == 2)
        limiter.sweep(now: 10_000)
        #expect(limiter.sources == 0)
        for i in 0..<(SourceLimiter.capacity + 10) { _ = limiter.admit(.v4(UInt32(0x0A00_0000 + i)), now: 20_000) }
        #expect(limiter.sources <= SourceLimiter.capacity)
    }

    @Test func aNonceIsGoodUntilItExpiresForItsAddressOnlyAndCannotBeForged() throws {
        let h = EngineHarness()
        var alice = TestClient(username: "alice", password: "wonderland")
        #expect(h.authenticated(&alice, from: clientA) { $0.allocate() }?.messageClass == .successResponse)
        let nonce = try #require(alice.nonce)
        // Another port of the same IP: the same nonce serves (a 300 followed over TCP).
        var again = alice
        let moved = TransportAddress(ip: clientA.ip, port: clientA.port + 7)
        #expect(h.answer(again.allocate(), moved)?.messageClass == .successResponse)
        // One character of the MAC changed: stale, and a fresh nonce in the answer.
        var forged = alice
        let last = nonce.last == "A" ? "B" : "A"
        forged.nonce = String(nonce.dropLast()) + last
        #expect(h.answer(forged.allocate(), TransportAddress(ip: clientA.ip, port: clientA.port + 8))?.code == 438)
        // Past its lifetime (600 s in the harness): stale.
        _ = h.advance(seconds: 601)
        again = alice
        #expect(h.answer(again.allocate(), TransportAddress(ip: clientA.ip, port: clientA.port + 9))?.code == 438)
    }
}
