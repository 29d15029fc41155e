import STUN
import TestSupport
import Testing

@testable import TURN

let clientA = TransportAddress("192.0.2.10:40000")!
let clientB = TransportAddress("192.0.2.11:40001")!
let publicPeer = TransportAddress("8.8.8.8:5000")!
let otherPeer = TransportAddress("1.1.1.1:6000")!

@Suite("Binding and authentication (RFC 8489 §6.3, §9.2)")
struct AuthenticationTests {
    @Test func bindingNeedsNoCredentials() throws {
        let h = EngineHarness()
        var b = STUNMessageBuilder(method: .binding, class: .request, transactionID: .random())
        b.appendFingerprint()
        let r = try #require(h.answer(b.bytes, clientA))
        #expect(r.messageClass == .successResponse)
        #expect(try r.xorAddress(.xorMappedAddress) == clientA)
        #expect(r.contains(.fingerprint))  // answered with one because the request had one
    }

    @Test func allocateWithoutCredentialsIsChallenged() throws {
        let h = EngineHarness()
        let r = try #require(h.answer(TestClient(username: "alice", password: "wonderland").allocate(), clientA))
        #expect(r.code == 401)
        #expect(r.text(.realm) == EngineHarness.realm)
        #expect(r.text(.nonce)?.hasPrefix("obMatJos2") == true)
        #expect(try r.passwordAlgorithms() == [PasswordAlgorithm.sha256.rawValue, PasswordAlgorithm.md5.rawValue])
        #expect(h.engine.allocationCount == 0)
    }

    @Test(arguments: [false, true])
    func staticUserAllocates(sha256: Bool) throws {
        let h = EngineHarness()
        var c = TestClient(username: "alice", password: "wonderland")
        c.sha256 = sha256
        let r = try #require(h.authenticated(&c, from: clientA) { $0.allocate() })
        #expect(r.messageClass == .successResponse)
        #expect(r.contains(sha256 ? .messageIntegritySHA256 : .messageIntegrity))
        #expect(r.verifyIntegrity(key: c.key) == true)
        #expect(try r.xorAddress(.xorMappedAddress) == clientA)
        #expect(try r.uint32(.lifetime) == 600)
        let relayed = try #require(try r.xorAddress(.xorRelayedAddress))
        #expect(relayed.ip == .v4(0xC633_6401))
        #expect(h.engine.allocationCount == 1)
    }

    @Test func wrongPasswordAndUnknownUserGet401() throws {
        let h = EngineHarness()
        var wrong = TestClient(username: "alice", password: "nope")
        #expect(h.authenticated(&wrong, from: clientA) { $0.allocate() }?.code == 401)
        var unknown = TestClient(username: "mallory", password: "x")
        #expect(h.authenticated(&unknown, from: clientA) { $0.allocate() }?.code == 401)
        #expect(h.engine.allocationCount == 0)
    }

    @Test func integrityWithoutNonceIsBadRequest() throws {
        let h = EngineHarness()
        var b = STUNMessageBuilder(method: .allocate, class: .request, transactionID: .random())
        b.append(.requestedTransport, [17, 0, 0, 0])
        b.append(.username, text: "alice")
        b.appendMessageIntegrity(key: [1, 2, 3])
        #expect(h.answer(b.bytes, clientA)?.code == 400)
    }

    @Test func nonceGoesStaleAndIsBoundToTheClient() throws {
        let h = EngineHarness()
        var c = TestClient(username: "alice", password: "wonderland")
        h.learnNonce(&c, from: clientA)
        #expect(h.answer(c.refresh(lifetime: 600), clientA)?.code == 437)  // the nonce is valid
        // The same nonce from another address is not ours to accept.
        #expect(h.answer(c.refresh(lifetime: 600), clientB)?.code == 438)
        h.now = h.now.adding(seconds: 601)
        let stale = try #require(h.answer(c.refresh(lifetime: 600), clientA))
        #expect(stale.code == 438)
        #expect(stale.text(.nonce) != nil && stale.text(.realm) == EngineHarness.realm)
        let learned = c.learn(from: stale)
        #expect(learned)
        #expect(h.answer(c.allocate(), clientA)?.messageClass == .successResponse)
    }

    @Test func restCredentialsWithRotationAndExpiry() throws {
        let h = EngineHarness(secrets: ["old-secret", "new-secret"])
        for secret in ["old-secret", "new-secret"] {
            let (user, password) = Authenticator.restCredential(secret: secret, expiry: h.now.unixSeconds + 3600, identity: "robot:42")
            var c = TestClient(username: user, password: password)
            let client = secret == "old-secret" ? clientA : clientB
            #expect(h.allocate(&c, from: client) != nil, "\(secret)")
        }
        let (expired, password) = Authenticator.restCredential(secret: "new-secret", expiry: h.now.unixSeconds - 1, identity: "app:42")
        var late = TestClient(username: expired, password: password)
        #expect(h.authenticated(&late, from: TransportAddress("192.0.2.12:1")!) { $0.allocate() }?.code == 401)
        let (user, _) = Authenticator.restCredential(secret: "other", expiry: h.now.unixSeconds + 60, identity: "x")
        var forged = TestClient(username: user, password: "forged")
        #expect(h.authenticated(&forged, from: TransportAddress("192.0.2.13:1")!) { $0.allocate() }?.code == 401)
    }

    @Test func userhashIdentifiesStaticUsers() throws {
        let h = EngineHarness()
        var c = TestClient(username: "alice", password: "wonderland")
        h.learnNonce(&c, from: clientA)
        var b = STUNMessageBuilder(method: .allocate, class: .request, transactionID: .random())
        b.append(.requestedTransport, [17, 0, 0, 0])
        b.append(.userhash, STUNCrypto.sha256(Array("alice:\(EngineHarness.realm)".utf8)))
        b.append(.realm, text: c.realm!)
        b.append(.nonce, text: c.nonce!)
        b.appendPasswordAlgorithms([.sha256, .md5])
        b.appendPasswordAlgorithm(.sha256)
        var sha = c
        sha.sha256 = true
        b.appendMessageIntegritySHA256(key: sha.key)
        #expect(h.answer(b.bytes, clientA)?.messageClass == .successResponse)
    }

    @Test func mismatchedPasswordAlgorithmsAreBadRequest() throws {
        let h = EngineHarness()
        var c = TestClient(username: "alice", password: "wonderland")
        h.learnNonce(&c, from: clientA)
        var b = STUNMessageBuilder(method: .allocate, class: .request, transactionID: .random())
        b.append(.requestedTransport, [17, 0, 0, 0])
        b.append(.username, text: "alice")
        b.append(.realm, text: c.realm!)
        b.append(.nonce, text: c.nonce!)
        b.appendPasswordAlgorithms([.md5])  // a downgrade: not what the server offered
        b.appendPasswordAlgorithm(.md5)
        b.appendMessageIntegrity(key: c.key)
        #expect(h.answer(b.bytes, clientA)?.code == 400)
    }

    @Test func unknownComprehensionRequiredAttributeGets420() throws {
        let h = EngineHarness()
        var c = TestClient(username: "alice", password: "wonderland")
        let r = try #require(
            h.authenticated(&c, from: clientA) { c in
                c.allocate { $0.append(STUNAttributeType(0x0077), [1, 2, 3, 4]) }
            })
        #expect(r.code == 420)
        #expect(try r.unknownAttributes() == [STUNAttributeType(0x0077)])
        #expect(r.verifyIntegrity(key: c.key) == true)
        // Comprehension-optional ones are ignored.
        let ok = h.answer(c.allocate { $0.append(STUNAttributeType(0x8077), [1, 2, 3, 4]) }, clientA)
        #expect(ok?.messageClass == .successResponse)
    }

    @Test func unknownMethodIsBadRequest() throws {
        let h = EngineHarness()
        let b = STUNMessageBuilder(method: STUNMethod(rawValue: 0x0FF), class: .request, transactionID: .random())
        #expect(h.answer(b.bytes, clientA)?.code == 400)
    }
}

@Suite("Allocate (RFC 8656 §7.2)")
struct AllocateTests {
    func signedIn(_ h: EngineHarness, _ address: TransportAddress = clientA) -> TestClient {
        var c = TestClient(username: "alice", password: "wonderland")
        h.learnNonce(&c, from: address)
        return c
    }

    @Test func requestedTransportIsRequiredAndMustBeUDP() throws {
        let h = EngineHarness()
        let c = signedIn(h)
        #expect(h.answer(c.request(.allocate), clientA)?.code == 400)
        #expect(h.answer(c.request(.allocate) { $0.append(.requestedTransport, [6, 0, 0, 0]) }, clientA)?.code == 442)
    }

    @Test func retransmissionIsAnsweredAgainAndAnotherAllocateIsAMismatch() throws {
        let h = EngineHarness()
        let c = signedIn(h)
        let tid = TransactionID.random()
        let first = h.fromClient(c.allocate(transactionID: tid), clientA)
        let again = h.fromClient(c.allocate(transactionID: tid), clientA)
        #expect(first.count == 1 && again.count == 1 && first[0].bytes == again[0].bytes)
        #expect(h.answer(c.allocate(), clientA)?.code == 437)
        #expect(h.resources.open.count == 1)
    }

    @Test func lifetimeIsClampedBetweenDefaultAndMaximum() throws {
        let h = EngineHarness()
        let c = signedIn(h)
        let long = try #require(h.answer(c.allocate { $0.append(.lifetime, uint32: 100_000) }, clientA))
        #expect(try long.uint32(.lifetime) == 3600)
        let c2 = signedIn(h, clientB)
        let short = try #require(h.answer(c2.allocate { $0.append(.lifetime, uint32: 5) }, clientB))
        #expect(try short.uint32(.lifetime) == 600)
    }

    @Test func addressFamilies() throws {
        let v6 = IPAddress("2001:db8::99")!
        let h = EngineHarness(resources: FakeRelayResources(addresses: [.ipv4: .v4(0xC633_6401), .ipv6: v6]))
        let c = signedIn(h)
        let r6 = try #require(h.answer(c.allocate { $0.append(.requestedAddressFamily, [2, 0, 0, 0]) }, clientA))
        #expect(try r6.xorAddress(.xorRelayedAddress)?.ip == v6)

        let c2 = signedIn(h, clientB)
        let dual = try #require(h.answer(c2.allocate { $0.append(.additionalAddressFamily, [2, 0, 0, 0]) }, clientB))
        let relayed = try dual.xorAddresses(.xorRelayedAddress)
        #expect(relayed.map(\.family) == [.ipv4, .ipv6])

        let c3 = signedIn(h, TransportAddress("192.0.2.50:1")!)
        #expect(h.answer(c3.allocate { $0.append(.requestedAddressFamily, [3, 0, 0, 0]) }, TransportAddress("192.0.2.50:1")!)?.code == 440)
        #expect(
            h.answer(c3.allocate { $0.append(.additionalAddressFamily, [1, 0, 0, 0]) }, TransportAddress("192.0.2.50:1")!)?.code == 400)
        #expect(
            h.answer(
                c3.allocate {
                    $0.append(.requestedAddressFamily, [1, 0, 0, 0])
                    $0.append(.additionalAddressFamily, [2, 0, 0, 0])
                }, TransportAddress("192.0.2.50:1")!)?.code == 400)
    }

    @Test func familyTheRelayLacks() throws {
        let h = EngineHarness()  // IPv4 only
        let c = signedIn(h)
        #expect(h.answer(c.allocate { $0.append(.requestedAddressFamily, [2, 0, 0, 0]) }, clientA)?.code == 440)
        #expect(h.resources.allocations == 0)  // the quota taken for the attempt was given back
        let dual = try #require(h.answer(c.allocate { $0.append(.additionalAddressFamily, [2, 0, 0, 0]) }, clientA))
        #expect(dual.messageClass == .successResponse)
        #expect(try dual.xorAddresses(.xorRelayedAddress).count == 1)
        let v = try #require(dual.value(.addressErrorCode))
        #expect(Array(v.prefix(4)) == [2, 0, 4, 40])
    }

    @Test func evenPortReservesTheNextOneForAnotherClient() throws {
        let h = EngineHarness()
        let c = signedIn(h)
        let r = try #require(h.answer(c.allocate { $0.append(.evenPort, [0x80]) }, clientA))
        let port = try #require(try r.xorAddress(.xorRelayedAddress)?.port)
        #expect(port % 2 == 0)
        let token = try #require(try r.reservationToken())
        let c2 = signedIn(h, clientB)
        #expect(
            h.answer(
                c2.allocate {
                    $0.append(.reservationToken, Array(r.value(.reservationToken)!)); $0.append(.evenPort, [0])
                }, clientB)?.code == 400)
        let second = try #require(
            h.answer(
                c2.allocate { b in
                    b.append(.reservationToken, (0..<8).map { UInt8(truncatingIfNeeded: token >> UInt64(56 - 8 * $0)) })
                }, clientB))
        #expect(try second.xorAddress(.xorRelayedAddress)?.port == port + 1)
        let c3 = signedIn(h, TransportAddress("192.0.2.60:1")!)
        #expect(
            h.answer(c3.allocate { $0.append(.reservationToken, [0, 0, 0, 0, 0, 0, 0, 9]) }, TransportAddress("192.0.2.60:1")!)?.code == 508
        )
    }

    @Test func quotasAndCapacity() throws {
        let h = EngineHarness(resources: FakeRelayResources(ports: 50000...50002, maxPerUser: 2, maxTotal: 0))
        var clients: [TransportAddress] = (0..<4).map { TransportAddress(ip: .v4(0xC000_0200 + UInt32($0)), port: 1000) }
        for a in clients.prefix(2) {
            let c = signedIn(h, a)
            #expect(h.answer(c.allocate(), a)?.messageClass == .successResponse)
        }
        let c = signedIn(h, clients[2])
        #expect(h.answer(c.allocate(), clients[2])?.code == 486)
        var bob = TestClient(username: "bob", password: "builder")
        #expect(h.allocate(&bob, from: clients[2]) != nil)  // third port
        var bob2 = TestClient(username: "bob", password: "builder")
        #expect(h.authenticated(&bob2, from: clients[3]) { $0.allocate() }?.code == 508)  // ports exhausted
        clients.removeAll()

        let total = EngineHarness(resources: FakeRelayResources(maxTotal: 1))
        var a = TestClient(username: "alice", password: "wonderland")
        #expect(total.allocate(&a, from: clientA) != nil)
        var b = TestClient(username: "bob", password: "builder")
        #expect(total.authenticated(&b, from: clientB) { $0.allocate() }?.code == 508)
    }
}

@Suite("Refresh and expiry (RFC 8656 §7.3, §7)")
struct RefreshTests {
    @Test func refreshExtendsAndZeroDeletes() throws {
        let h = EngineHarness()
        var c = TestClient(username: "alice", password: "wonderland")
        _ = try #require(h.allocate(&c, from: clientA))
        let r = try #require(h.answer(c.refresh(lifetime: 1200), clientA))
        #expect(try r.uint32(.lifetime) == 1200)
        h.advance(seconds: 1000)
        #expect(h.engine.allocationCount == 1)  // would have expired at 600 without the refresh
        let gone = try #require(h.authenticated(&c, from: clientA) { $0.refresh(lifetime: 0) })
        #expect(try gone.uint32(.lifetime) == 0)
        #expect(h.engine.allocationCount == 0 && h.resources.open.isEmpty && h.resources.allocations == 0)
        #expect(h.answer(c.refresh(lifetime: 0), clientA)?.code == 437)
    }

    @Test func anotherUsersRefreshIsWrongCredentials() throws {
        let h = EngineHarness()
        var alice = TestClient(username: "alice", password: "wonderland")
        _ = try #require(h.allocate(&alice, from: clientA))
        var bob = TestClient(username: "bob", password: "builder")
        #expect(h.authenticated(&bob, from: clientA) { $0.refresh(lifetime: 600) }?.code == 441)
    }

    @Test func refreshForAFamilyTheAllocationLacks() throws {
        let h = EngineHarness()
        var c = TestClient(username: "alice", password: "wonderland")
        _ = try #require(h.allocate(&c, from: clientA))
        #expect(h.answer(c.request(.refresh) { $0.append(.requestedAddressFamily, [2, 0, 0, 0]) }, clientA)?.code == 443)
    }

    @Test func allocationExpiresAndFreesEverything() throws {
        let h = EngineHarness()
        var c = TestClient(username: "alice", password: "wonderland")
        _ = try #require(h.allocate(&c, from: clientA))
        h.advance(seconds: 599)
        #expect(h.engine.allocationCount == 1)
        h.advance(seconds: 1)
        #expect(h.engine.allocationCount == 0)
        #expect(h.resources.open.isEmpty && h.resources.allocations == 0)
        #expect(h.events.contains(.allocationDeleted(reason: .expired, lifetimeSeconds: 600)))
    }

    @Test func streamConnectionCloseFreesTheAllocation() throws {
        let h = EngineHarness()
        var c = TestClient(username: "alice", password: "wonderland")
        _ = try #require(h.allocate(&c, from: clientA, transport: .tcp))
        h.engine.connectionClosed(h.tuple(clientA, .tcp), now: h.now, out: h.out)
        #expect(h.engine.allocationCount == 0 && h.resources.open.isEmpty)
    }
}
