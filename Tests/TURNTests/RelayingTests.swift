import STUN
import TestSupport
import Testing

@testable import TURN

/// An allocation ready to relay: its client, relayed address and relay socket.
struct Ready {
    let h: EngineHarness
    var client: TestClient
    let relayed: TransportAddress
    let relaySocket: SocketID

    init(_ h: EngineHarness = EngineHarness(), transport: TransportProtocol = .udp) throws {
        self.h = h
        var c = TestClient(username: "alice", password: "wonderland")
        relayed = try #require(h.allocate(&c, from: clientA, transport: transport))
        relaySocket = try #require(h.relaySocket(for: relayed))
        client = c
    }
}

@Suite("CreatePermission and Send/Data indications (RFC 8656 §9–§11)")
struct PermissionTests {
    @Test func permissionLetsDataThroughBothWays() throws {
        let r = try Ready()
        #expect(r.h.answer(r.client.createPermission([publicPeer]), clientA)?.messageClass == .successResponse)

        let out = r.h.fromClient(TestClient.sendIndication(to: publicPeer, data: [1, 2, 3]), clientA)
        #expect(out.count == 1)
        #expect(out.first?.socket == r.relaySocket && out.first?.destination == publicPeer && out.first?.bytes == [1, 2, 3])

        // Any port of a permitted IP may answer (§9: permissions are per IP address).
        let otherPort = TransportAddress(ip: publicPeer.ip, port: 9999)
        let back = r.h.fromPeer([4, 5, 6, 7, 8], otherPort, relay: r.relaySocket)
        #expect(back.count == 1 && back[0].destination == clientA && back[0].socket == EngineHarness.listener)
        let data = try #require(back[0].message)
        #expect(data.method == .data && data.messageClass == .indication)
        #expect(try data.xorAddress(.xorPeerAddress) == otherPort)
        #expect(data.value(.data).map(Array.init) == [4, 5, 6, 7, 8])
    }

    @Test func withoutPermissionNothingPasses() throws {
        let r = try Ready()
        #expect(r.h.fromClient(TestClient.sendIndication(to: publicPeer, data: [1]), clientA).isEmpty)
        #expect(r.h.fromPeer([1], publicPeer, relay: r.relaySocket).isEmpty)
        #expect(r.h.fromPeer([1], publicPeer, relay: 9999).isEmpty)  // not a relay socket
    }

    @Test func permissionsExpireAfterFiveMinutesUnlessRefreshed() throws {
        let r = try Ready()
        #expect(r.h.answer(r.client.createPermission([publicPeer]), clientA)?.messageClass == .successResponse)
        r.h.advance(seconds: 299)
        #expect(r.h.fromPeer([1], publicPeer, relay: r.relaySocket).count == 1)
        r.h.advance(seconds: 1)
        #expect(r.h.fromPeer([1], publicPeer, relay: r.relaySocket).isEmpty)
    }

    @Test func severalPeersAtOnceAllOrNothing() throws {
        var r = try Ready()
        #expect(r.h.answer(r.client.createPermission([publicPeer, otherPeer]), clientA)?.messageClass == .successResponse)
        #expect(r.h.fromPeer([1], otherPeer, relay: r.relaySocket).count == 1)
        let third = TransportAddress("9.9.9.9:1")!
        let denied = try #require(
            r.h.authenticated(&r.client, from: clientA) {
                $0.createPermission([third, TransportAddress("10.0.0.1:1")!])
            })
        #expect(denied.code == 403)
        #expect(r.h.fromPeer([1], third, relay: r.relaySocket).isEmpty)  // the allowed one was not installed either
    }

    @Test func peerFamilyMustMatchARelayedAddress() throws {
        let r = try Ready()
        #expect(r.h.answer(r.client.createPermission([TransportAddress("[2001:4860::8888]:1")!]), clientA)?.code == 443)
        #expect(r.h.answer(r.client.request(.createPermission), clientA)?.code == 400)
    }

    @Test func otherUsersCannotTouchTheAllocation() throws {
        let r = try Ready()
        var bob = TestClient(username: "bob", password: "builder")
        #expect(r.h.authenticated(&bob, from: clientA) { $0.createPermission([publicPeer]) }?.code == 441)
        #expect(r.h.authenticated(&bob, from: clientB) { $0.createPermission([publicPeer]) }?.code == 437)
    }
}

@Suite("Peer policy (DESIGN §4)")
struct PeerPolicyTests {
    static let denied: [(String, PeerPolicy.Denial)] = [
        ("127.0.0.1:9", .loopback), ("127.255.0.1:9", .loopback), ("0.0.0.0:9", .unspecified), ("0.1.2.3:9", .unspecified),
        ("10.1.2.3:9", .privateUse), ("172.16.0.1:9", .privateUse), ("172.31.255.255:9", .privateUse),
        ("192.168.1.1:9", .privateUse), ("100.64.0.1:9", .sharedAddressSpace), ("169.254.169.254:9", .linkLocal),
        ("224.0.0.1:9", .multicast), ("239.255.255.250:9", .multicast), ("255.255.255.255:9", .broadcast),
        ("240.0.0.1:9", .reserved), ("192.0.2.1:9", .reserved), ("198.18.0.1:9", .reserved), ("203.0.113.5:9", .reserved),
        ("[::1]:9", .loopback), ("[::]:9", .unspecified), ("[fe80::1]:9", .linkLocal), ("[fc00::1]:9", .uniqueLocal),
        ("[fd12:3456::1]:9", .uniqueLocal), ("[ff02::1]:9", .multicast), ("[2001:db8::1]:9", .reserved),
        ("[2001::1]:9", .reserved), ("[::ffff:127.0.0.1]:9", .loopback), ("[::ffff:10.0.0.1]:9", .privateUse),
        ("[::ffff:169.254.169.254]:9", .linkLocal), ("[::127.0.0.1]:9", .loopback), ("[::10.0.0.1]:9", .privateUse),
        ("[64:ff9b::127.0.0.1]:9", .loopback), ("[64:ff9b::a00:1]:9", .privateUse), ("[64:ff9b:1::a00:1]:9", .privateUse),
        ("[2002:7f00:1::]:9", .loopback), ("[2002:c0a8:101::1]:9", .privateUse), ("[::ffff:0.0.0.0]:9", .unspecified),
        ("[fec0::1]:9", .linkLocal), ("[100::1]:9", .reserved),
        ("198.51.100.1:3478", .listenerAddress), ("198.51.100.1:4000", .relayAddress),
    ]

    @Test(arguments: denied)
    func deniedByDefault(text: String, expected: PeerPolicy.Denial) throws {
        let policy = PeerPolicy(ownAddresses: [.v4(0xC633_6401)], listenerAddresses: [EngineHarness.server])
        let peer = try #require(TransportAddress(text))
        #expect(policy.denial(for: peer) == expected)
    }

    @Test(arguments: [
        "8.8.8.8:53", "1.1.1.1:1", "[2001:4860:4860::8888]:53", "[2606:4700::1111]:1", "[::ffff:8.8.8.8]:1", "[64:ff9b::808:808]:1",
    ])
    func publicPeersAreAllowed(text: String) throws {
        #expect(PeerPolicy().denial(for: try #require(TransportAddress(text))) == nil)
    }

    @Test func allowListOpensRangesInEveryEncodingButNeverTheListener() throws {
        let policy = PeerPolicy(allow: [CIDR("127.0.0.0/8")!, CIDR("fd00::/8")!], listenerAddresses: [TransportAddress("127.0.0.1:3478")!])
        #expect(policy.denial(for: TransportAddress("127.0.0.1:5000")!) == nil)
        #expect(policy.denial(for: TransportAddress("[::ffff:127.0.0.1]:5000")!) == nil)
        #expect(policy.denial(for: TransportAddress("[fd00::5]:1")!) == nil)
        #expect(policy.denial(for: TransportAddress("10.0.0.1:1")!) == .privateUse)
        #expect(policy.denial(for: TransportAddress("127.0.0.1:3478")!) == .listenerAddress)
    }

    // IPv4 forms on an IPv4 allocation; the IPv6 forms have their own test below.
    @Test(arguments: ["10.0.0.1:1", "0.0.0.0:1", "127.0.0.1:1", "169.254.169.254:80", "198.51.100.1:5000"])
    func engineRefusesDeniedPeersWith403(text: String) throws {
        let r = try Ready()
        let peer = try #require(TransportAddress(text))
        #expect(r.h.answer(r.client.createPermission([peer]), clientA)?.code == 403)
        #expect(r.h.answer(r.client.channelBind(0x4000, peer), clientA)?.code == 403)
        #expect(r.h.events.contains { if case .peerDenied = $0 { true } else { false } })
    }

    @Test(arguments: ["[::ffff:127.0.0.1]:1", "[fe80::1]:1", "[::]:1", "[::1]:1", "[64:ff9b::a00:1]:1", "[2002:a00:1::]:1"])
    func engineRefusesDeniedIPv6PeersWith403(text: String) throws {
        let h = EngineHarness(resources: FakeRelayResources(addresses: [.ipv4: .v4(0xC633_6401), .ipv6: IPAddress("2001:db8::99")!]))
        var c = TestClient(username: "alice", password: "wonderland")
        let r = try #require(h.authenticated(&c, from: clientA) { $0.allocate { $0.append(.requestedAddressFamily, [2, 0, 0, 0]) } })
        #expect(r.messageClass == .successResponse)
        #expect(h.answer(c.createPermission([try #require(TransportAddress(text))]), clientA)?.code == 403)
    }

    @Test(arguments: [
        ("10.0.0.0/8", true), ("2001:db8::/32", true), ("1.2.3.4", true), ("1.2.3.4/33", false), ("x/8", false), ("::/129", false),
    ])
    func cidrParsing(text: String, valid: Bool) {
        #expect((CIDR(text) != nil) == valid)
    }
}

@Suite("ChannelBind and ChannelData (RFC 8656 §12)")
struct ChannelTests {
    @Test func channelDataBothWays() throws {
        let r = try Ready()
        #expect(r.h.answer(r.client.channelBind(0x4001, publicPeer), clientA)?.messageClass == .successResponse)
        let out = r.h.fromClient(TestClient.channelData(0x4001, [9, 9, 9]), clientA)
        #expect(out.count == 1 && out[0].destination == publicPeer && out[0].bytes == [9, 9, 9] && out[0].socket == r.relaySocket)
        let back = r.h.fromPeer([7, 7], publicPeer, relay: r.relaySocket)
        #expect(back.count == 1 && back[0].bytes == [0x40, 0x01, 0, 2, 7, 7])
        // Another port of the same IP has a permission (installed by ChannelBind) but no channel.
        let other = r.h.fromPeer([7], TransportAddress(ip: publicPeer.ip, port: 1), relay: r.relaySocket)
        #expect(other.first?.message?.method == .data)
    }

    @Test func streamsPadChannelData() throws {
        let r = try Ready(transport: .tcp)
        let answer = r.h.answer(r.client.channelBind(0x4002, publicPeer), clientA, transport: .tcp)
        #expect(answer?.messageClass == .successResponse)
        let back = r.h.fromPeer([1, 2, 3, 4, 5], publicPeer, relay: r.relaySocket)
        #expect(back.first?.bytes == [0x40, 0x02, 0, 5, 1, 2, 3, 4, 5, 0, 0, 0])
        // A padded ChannelData from the client carries only its stated length.
        let out = r.h.fromClient(TestClient.channelData(0x4002, [1, 2, 3], padded: true), clientA, transport: .tcp)
        #expect(out.first?.bytes == [1, 2, 3])
    }

    @Test(arguments: [UInt16(0x3FFF), 0x5000, 0x7FFF, 0x8000, 0xFFFF])
    func numbersOutsideTheRangeAreBadRequests(number: UInt16) throws {
        let r = try Ready()
        #expect(r.h.answer(r.client.channelBind(number, publicPeer), clientA)?.code == 400)
    }

    @Test func legacyRangeAcceptsRFC5766Numbers() throws {
        let r = try Ready(EngineHarness { $0.channelRange = STUNDataPath.legacyChannelRange })
        #expect(r.h.answer(r.client.channelBind(0x7FFF, publicPeer), clientA)?.messageClass == .successResponse)
        #expect(r.h.answer(r.client.channelBind(0x8000, otherPeer), clientA)?.code == 400)
    }

    @Test func rebindingRules() throws {
        var r = try Ready()
        #expect(r.h.answer(r.client.channelBind(0x4001, publicPeer), clientA)?.messageClass == .successResponse)
        #expect(r.h.answer(r.client.channelBind(0x4001, publicPeer), clientA)?.messageClass == .successResponse)  // refresh
        #expect(r.h.answer(r.client.channelBind(0x4001, otherPeer), clientA)?.code == 400)
        #expect(r.h.answer(r.client.channelBind(0x4002, publicPeer), clientA)?.code == 400)
        // Expired bindings carry no data, and stay reserved five more minutes (§12).
        #expect(r.h.answer(r.client.refresh(lifetime: 3600), clientA)?.messageClass == .successResponse)
        r.h.advance(seconds: 600)
        #expect(r.h.fromClient(TestClient.channelData(0x4001, [1]), clientA).isEmpty)
        r.h.advance(seconds: 200)
        #expect(r.h.authenticated(&r.client, from: clientA) { $0.channelBind(0x4001, otherPeer) }?.code == 400)
        r.h.advance(seconds: 110)
        #expect(r.h.authenticated(&r.client, from: clientA) { $0.channelBind(0x4001, otherPeer) }?.messageClass == .successResponse)
    }

    @Test func channelBindNeedsItsAttributes() throws {
        let r = try Ready()
        #expect(r.h.answer(r.client.request(.channelBind) { $0.append(.xorPeerAddress, xorAddress: publicPeer) }, clientA)?.code == 400)
        #expect(r.h.answer(r.client.request(.channelBind) { $0.append(.channelNumber, [0x40, 0, 0, 0]) }, clientA)?.code == 400)
    }

    @Test func unboundOrShortChannelDataIsDropped() throws {
        let r = try Ready()
        #expect(r.h.answer(r.client.channelBind(0x4001, publicPeer), clientA)?.messageClass == .successResponse)
        #expect(r.h.fromClient(TestClient.channelData(0x4003, [1]), clientA).isEmpty)
        #expect(r.h.fromClient([0x40, 0x01, 0x00, 0x09, 1, 2], clientA).isEmpty)  // says 9, carries 2
        #expect(r.h.fromClient([0x40, 0x01], clientA).isEmpty)
        #expect(r.h.fromClient(TestClient.channelData(0x4001, [1]), clientB).isEmpty)  // not this client's
    }
}

@Suite("Bad input (DESIGN §7: a clear error, never a crash)")
struct BadInputTests {
    @Test func garbageAndTruncationAreDroppedAndServiceContinues() throws {
        let r = try Ready()
        let garbage: [[UInt8]] = [
            [], [0xFF], [0x80, 0, 0, 0], [0, 1, 0, 0, 0x21, 0x12, 0xA4], Array(repeating: 0, count: 20),
            Array(repeating: 0xAB, count: 1500),
        ]
        for g in garbage { #expect(r.h.fromClient(g, clientA).isEmpty) }
        let truncated = Array(r.client.createPermission([publicPeer]).dropLast(8))
        #expect(r.h.fromClient(truncated, clientA).isEmpty)
        #expect(r.h.answer(r.client.createPermission([publicPeer]), clientA)?.messageClass == .successResponse)
        #expect(r.h.engine.stats.malformed >= garbage.count)
    }

    @Test func requestWithBrokenAttributesGets400() throws {
        let h = EngineHarness()
        var b = STUNMessageBuilder(method: .allocate, class: .request, transactionID: .random())
        b.append(.software, text: "abcd")
        var bytes = b.bytes
        bytes[23] = 0x40  // SOFTWARE claims 64 bytes
        #expect(h.answer(bytes, clientA)?.code == 400)
    }

    @Test func badFingerprintIsSilentlyDropped() throws {
        let h = EngineHarness()
        var b = STUNMessageBuilder(method: .binding, class: .request, transactionID: .random())
        b.appendFingerprint()
        var bytes = b.bytes
        bytes[bytes.count - 1] ^= 1
        #expect(h.fromClient(bytes, clientA).isEmpty)
    }

    @Test func malformedAttributeValuesGet400() throws {
        let r = try Ready()
        #expect(r.h.answer(r.client.request(.createPermission) { $0.append(.xorPeerAddress, [0, 1, 0]) }, clientA)?.code == 400)
        let refresh = r.h.answer(r.client.request(.refresh) { $0.append(.lifetime, [0, 1]) }, clientA)
        #expect(refresh?.code == 400)
        // The answer names the attribute that did not parse (a typed rejection, not a catch-all).
        #expect(try refresh?.errorCode()?.reason == "Malformed attribute 0xd")
    }

    @Test func everyRejectionIsOneRFCCode() {
        let table: [(TURNRejection, Int)] = [
            (.badRequest("x"), 400), (.malformedAttribute(.badAttribute(.lifetime)), 400), (.forbidden(""), 403),
            (.unknownAttributes([STUNAttributeType(0x0031)]), 420), (.allocationMismatch, 437), (.addressFamilyNotSupported, 440),
            (.wrongCredentials, 441), (.unsupportedTransportProtocol, 442), (.peerAddressFamilyMismatch, 443),
            (.allocationQuotaReached, 486), (.insufficientCapacity(nil), 508),
        ]
        for (rejection, code) in table {
            #expect(rejection.code == code, "\(rejection)")
            #expect(!rejection.reason.isEmpty)
        }
        #expect(TURNRejection.forbidden("not this device's partner").reason == "Forbidden: not this device's partner")
    }

    @Test func responsesAndIndicationsFromClientsAreIgnored() throws {
        let h = EngineHarness()
        let response = STUNMessageBuilder(method: .binding, class: .successResponse, transactionID: .random())
        #expect(h.fromClient(response.bytes, clientA).isEmpty)
        let keepalive = STUNMessageBuilder(method: .binding, class: .indication, transactionID: .random())
        #expect(h.fromClient(keepalive.bytes, clientA).isEmpty)
    }
}

@Suite("max-bps: each allocation's rate to its peers")
struct RateCapTests {
    static func ready(rate: Int) throws -> Ready {
        let r = try Ready(EngineHarness { $0.maxBytesPerSecond = rate })
        #expect(r.h.answer(r.client.channelBind(0x4001, publicPeer), clientA)?.messageClass == .successResponse)
        return r
    }

    @Test func aSecondsWorthPassesThenTheRestIsDroppedAsQuota() throws {
        let r = try Self.ready(rate: 10_000)
        let packet = TestClient.channelData(0x4001, [UInt8](repeating: 7, count: 1000))
        let sent = (0..<20).map { _ in r.h.fromClient(packet, clientA).count }.reduce(0, +)
        #expect(sent == 10)
        #expect(r.h.engine.stats[dropped: .quota] == 10)
        // Half a second later, half a second's worth more; Send indications count too.
        r.h.now = TURNTime(millis: r.h.now.millis + 500, unixSeconds: r.h.now.unixSeconds, micros: r.h.now.micros + 500_000)
        let later = (0..<10).map { _ in r.h.fromClient(packet, clientA).count }.reduce(0, +)
        #expect(later == 5)
        let send = TestClient.sendIndication(to: publicPeer, data: [UInt8](repeating: 1, count: 1000))
        #expect(r.h.fromClient(send, clientA).isEmpty)
        #expect(r.h.engine.stats[dropped: .quota] == 16)
        // What peers send back is not capped here.
        #expect(r.h.fromPeer([UInt8](repeating: 2, count: 1000), publicPeer, relay: r.relaySocket).count == 1)
    }

    @Test func zeroMeansUnlimited() throws {
        let r = try Self.ready(rate: 0)
        let packet = TestClient.channelData(0x4001, [UInt8](repeating: 7, count: 1200))
        #expect((0..<100).map { _ in r.h.fromClient(packet, clientA).count }.reduce(0, +) == 100)
        #expect(r.h.engine.stats[dropped: .quota] == 0)
    }
}
