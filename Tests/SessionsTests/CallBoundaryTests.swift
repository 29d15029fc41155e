import STUN
import TestSupport
import Testing

@testable import Sessions
@testable import TURN

/// DTLS handshakes told complete in both versions, and where one call ends and the next begins
/// (issue 8: a browser's DTLS 1.3 call, two calls of one device, the late final record).
@Suite("DTLS completion in 1.2 and 1.3")
struct DTLSCompletionTests {
    typealias R = DTLSRecords
    static let clientHello = R.clientHello
    static let serverHello = R.serverHello
    static func plaintext(_ type: UInt8, epoch: UInt16 = 0, _ body: [UInt8]) -> [UInt8] { R.plaintext(type, epoch: epoch, body) }
    static func unified(epoch: UInt8, _ size: Int) -> [UInt8] { R.unified(epoch: epoch, size) }

    @Test func dtls12CompletesAtChangeCipherSpecAndAnEncryptedFinishedIsNoHello() {
        var client = TrafficAnalyzer()
        client.feed(Self.clientHello, at: 1)
        client.feed(Self.clientHello, at: 2)  // after a HelloVerifyRequest: the same handshake
        // Client's second flight: ChangeCipherSpec, then Finished encrypted in epoch 1 whose first
        // byte happens to read as a ClientHello's type.
        client.feed(Self.plaintext(20, [1]) + Self.plaintext(22, epoch: 1, [1, 9, 9, 9, 9, 9]), at: 5)
        #expect(client.dtlsStartedAt == 1000 && client.dtlsCompletedAt == 5000 && client.dtlsHandshakes == 1)
        var server = TrafficAnalyzer()
        server.feed(Self.serverHello, at: 3)
        server.feed(Self.plaintext(20, [1]), at: 6)
        #expect(server.dtlsStartedAt == 3000 && server.dtlsCompletedAt == 6000)
    }

    @Test func dtls13CompletesInEpochThreeWithoutChangeCipherSpec() {
        var client = TrafficAnalyzer()
        client.feed(Self.clientHello, at: 1)
        client.feed(Self.unified(epoch: 2, 60), at: 4)  // client Finished, handshake keys
        #expect(client.dtlsCompletedAt == nil)
        client.feed(Self.unified(epoch: 3, 30), at: 5)  // application data keys
        #expect(client.dtlsCompletedAt == 5000)
        // A server's flight: ServerHello in the clear, then epoch-2 records, several in one
        // datagram; then an ACK in epoch 3.
        var server = TrafficAnalyzer()
        server.feed(Self.serverHello + Self.unified(epoch: 2, 100) + Self.unified(epoch: 2, 40), at: 2)
        #expect(server.dtlsStartedAt == 2000 && server.dtlsCompletedAt == nil)
        server.feed(Self.unified(epoch: 3, 16), at: 6)
        #expect(server.dtlsCompletedAt == 6000)
    }

    @Test func srtpAfterTheHelloCompletesEitherVersion() {
        var server = TrafficAnalyzer()
        server.feed(rtp(seq: 1, ts: 1, ssrc: 7), at: 1)  // RTP with no handshake: no DTLS claimed
        #expect(server.dtlsCompletedAt == nil && server.dtlsStartedAt == nil)
        server.feed(Self.serverHello + Self.unified(epoch: 2, 100), at: 2)
        server.feed(rtp(seq: 2, ts: 961, ssrc: 7), at: 9)
        #expect(server.dtlsCompletedAt == 9000)
    }

    @Test func aHelloInsideSTUNCountsAsTheHandshakeStart() {
        // SPED (DTLS in STUN): the ClientHello rides in an ICE Binding request, attribute 0xC070.
        var b = STUNMessageBuilder(method: .binding, class: .request, transactionID: .random())
        b.append(.priority, uint32: 7)
        b.append(STUNAttributeType(0xC070), Self.clientHello)
        b.appendFingerprint()
        var client = TrafficAnalyzer()
        client.feed(b.bytes, at: 1)
        #expect(client.dtlsStartedAt == 1000 && client.requests.count == 1)
        client.feed(rtp(seq: 1, ts: 1, ssrc: 3), at: 4)
        #expect(client.dtlsCompletedAt == 4000)
        // An attribute that overruns the message is not read.
        var broken = b.bytes
        broken[20 + 8 + 2] = 0xFF
        var other = TrafficAnalyzer()
        other.feed(broken, at: 1)
        #expect(other.dtlsStartedAt == nil)
    }

    @Test func aHelloAfterACompletedHandshakeStartsAnother() {
        var client = TrafficAnalyzer()
        client.feed(Self.clientHello, at: 1)
        client.feed(Self.unified(epoch: 3, 10), at: 2)
        client.feed(Self.clientHello, at: 50)
        #expect(client.dtlsHandshakes == 2 && client.dtlsStartedAt == 50_000 && client.dtlsCompletedAt == nil)
    }
}

@Suite("Where a call ends and the next begins")
struct CallBoundaryTests {
    typealias L = SessionRegistryTests

    static func registry(idle: Double = 30) -> SessionRegistry {
        var settings = SessionRegistry.Settings()
        settings.idleTimeout = idle
        settings.interimInterval = 3600
        return SessionRegistry(settings: settings)
    }

    @Test func twoCallsOfOneDeviceAreTwoSessionsWithPerCallRates() throws {
        let r = Self.registry()
        // Call 1: 0–10 s, video 20 fps robot → app; handshake done at 0.06 s. Its legs are not
        // deleted (a browser tab that went away): they would stay until their lifetime ends.
        r.update([
            L.leg(1, .robot, packets: 400, last: 10_000, video: true), L.leg(2, .app, packets: 500, last: 10_000),
        ])
        #expect(r.tick(now: 1_000_000, unix: 1).isEmpty && r.activeSessions == 1)
        // Call 2 five seconds later: a fresh PeerConnection, new allocations, a new handshake.
        r.update([
            L.leg(3, .robot, packets: 400, from: 15_000, last: 25_000, hello: 15_100_000, done: 15_200_000, video: true),
            L.leg(4, .app, packets: 500, from: 15_000, last: 25_000, hello: 15_050_000, done: 15_200_000),
        ])
        let ended = r.tick(now: 15_500_000, unix: 15.5)
        let first = try #require(ended.first)
        #expect(ended.count == 1 && first.type == "final" && first.endReason == "new-call")
        let video1 = try #require(first.directions["robot_to_app"]?["video"])
        #expect(video1.streams == 1 && video1.frameRate.map { abs($0 - 20) < 0.5 } == true, "\(video1)")
        #expect(abs(video1.bitrateKbps - 320) < 10, "\(video1.bitrateKbps)")
        // The next tick starts call 2 with its own legs only.
        #expect(r.tick(now: 16_000_000, unix: 16).isEmpty && r.activeSessions == 1)
        r.update([
            L.leg(
                3, .robot, packets: 400, from: 15_000, last: 25_000, ended: .refreshedToZero, hello: 15_100_000, done: 15_200_000,
                video: true)
        ])
        r.update([
            L.leg(
                4, .app, packets: 500, from: 15_000, last: 25_000, ended: .refreshedToZero, endedAt: 25_001, hello: 15_050_000,
                done: 15_200_000)
        ])
        let second = try #require(r.tick(now: 26_000_000, unix: 26).first)
        #expect(second.sessionID != first.sessionID && second.endReason == "robot-left")
        let video2 = try #require(second.directions["robot_to_app"]?["video"])
        #expect(video2.streams == 1 && video2.frameRate.map { abs($0 - 20) < 0.5 } == true, "\(video2)")
        #expect(abs(video2.bitrateKbps - 320) < 10, "\(video2.bitrateKbps)")
        #expect(second.directions["app_to_robot"]?["audio"]?.streams == 1)
    }

    @Test func anICERestartWithinOneCallIsOneSession() throws {
        let r = Self.registry()
        r.update([L.leg(1, .robot, last: 1000), L.leg(2, .app, last: 1000)])
        #expect(r.tick(now: 1_000_000, unix: 1).isEmpty)
        // The app gathers again: a new allocation, the old one deleted, no new DTLS handshake.
        r.update([L.leg(2, .app, last: 1100, ended: .refreshedToZero)])
        r.update([L.leg(3, .app, packets: 60, from: 1200, last: 3000, hello: nil, done: nil), L.leg(1, .robot, last: 3000)])
        #expect(r.tick(now: 3_000_000, unix: 3).isEmpty && r.activeSessions == 1)
        r.update([
            L.leg(1, .robot, last: 4000, ended: .refreshedToZero), L.leg(3, .app, last: 4000, ended: .connectionClosed, endedAt: 4001),
        ])
        let record = try #require(r.tick(now: 4_500_000, unix: 4.5).first)
        #expect(record.endReason == "robot-left" && record.directions["app_to_robot"]?["audio"]?.streams == 2)
    }

    @Test func bothSidesDeletedEndsTheSessionAtTheNextTick() throws {
        let r = Self.registry(idle: 30)
        r.update([L.leg(1, .robot, last: 1000), L.leg(2, .app, last: 1000)])
        _ = r.tick(now: 1_000_000, unix: 1)
        r.update([L.leg(2, .app, last: 2000, ended: .refreshedToZero)])
        #expect(r.tick(now: 2_000_000, unix: 2).isEmpty)  // the robot may still be joined by a new app
        r.update([L.leg(1, .robot, last: 2500, ended: .connectionClosed)])
        let record = try #require(r.tick(now: 3_000_000, unix: 3).first)
        #expect(record.type == "final" && record.endReason == "app-left" && r.activeSessions == 0)
    }

    @Test func vanishedClientsWaitForTheIdleTime() throws {
        let r = Self.registry(idle: 5)
        r.update([L.leg(1, .robot, last: 1000), L.leg(2, .app, last: 1000)])
        _ = r.tick(now: 1_000_000, unix: 1)
        r.update([L.leg(1, .robot, last: 1000, ended: .expired), L.leg(2, .app, last: 1000, ended: .refreshedToZero)])
        #expect(r.tick(now: 2_000_000, unix: 2).isEmpty)
        #expect(try #require(r.tick(now: 7_000_000, unix: 7).first).endReason == "robot-left")
    }

    @Test func streamsOneAfterAnotherDoNotAddUpTheirRates() throws {
        // One app leg whose audio stream was replaced half-way (a new SSRC): 60 packets each.
        var a = TrafficAnalyzer()
        for i in 0..<60 { a.feed(rtp(seq: UInt16(i), ts: UInt32(i * 960), ssrc: 1, size: 125), at: Int64(i * 20)) }
        for i in 0..<60 { a.feed(rtp(seq: UInt16(i), ts: UInt32(i * 960), ssrc: 2, size: 125), at: 1300 + Int64(i * 20)) }
        #expect(SessionRegistry.unionMillis([(0, 980_000), (1_000_000, 1_980_000)]) == 1960)
        #expect(SessionRegistry.unionMillis([(0, 1_000_000), (500_000, 1_500_000)]) == 1500)
        let r = Self.registry(idle: 1)
        var app = L.leg(2, .app, last: 2500)
        app.streams = Array(a.streams.values)
        r.update([L.leg(1, .robot, last: 2500), app])
        _ = r.tick(now: 2_500_000, unix: 2.5)
        let record = try #require(r.tick(now: 4_000_000, unix: 4).first)
        let audio = try #require(record.directions["app_to_robot"]?["audio"])
        // 125 bytes every 20 ms is 50 kbps, whether one stream or two in a row.
        #expect(audio.streams == 2 && abs(audio.bitrateKbps - 50) < 2, "\(audio.bitrateKbps)")
    }
}
