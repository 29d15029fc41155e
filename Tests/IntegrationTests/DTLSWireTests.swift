import AV1Endpoint
import Foundation
import Logging
import RelayServer
import STUN
import Sessions
import Synchronization
import TURN
import TestSupport
import Testing

/// Records kept in memory, for tests that read what the relay wrote.
final class MemorySink: SessionSink {
    private let records = Mutex<[SessionRecord]>([])
    func write(_ record: SessionRecord) throws { records.withLock { $0.append(record) } }
    var all: [SessionRecord] { records.withLock { $0 } }
}

extension IntegrationSuites {
    /// DTLS 1.2 and 1.3 handshakes between two paired allocations of a real relay, as WebRTC sends
    /// them through it (the record shapes; the relay never sees a key), and the final record right
    /// after both allocations are deleted (issue 8).
    @Suite("DTLS 1.2 and 1.3 on the wire", .serialized)
    struct DTLSWireTests {
        typealias D = DTLSRecords

        @Test(arguments: ["1.2", "1.3"])
        func aCallIsRecordedCompletedAndEndsWhenBothSidesDelete(version: String) throws {
            let sink = MemorySink()
            let server = try TestRelay.start(ports: 32200...32299, tcp: false, sinks: [sink]) {
                $0.authSecrets = ["dtls-secret"]
                $0.pairing = true
                $0.sessionIdle = 120  // a record waiting for the idle time would come far too late
                $0.workers = 2
            }
            defer { server.stop() }
            let address = try #require(server.udpAddresses.first)
            var robot = TestClient.rest(secret: "dtls-secret", identity: "robot:dtls")
            var app = TestClient.rest(secret: "dtls-secret", identity: "app:dtls")
            let robotConnection = try RelayConnection(to: address, transport: .udp)
            let appConnection = try RelayConnection(to: address, transport: .udp)
            let robotRelayed = try PairingWireTests.allocate(&robot, robotConnection)
            let appRelayed = try PairingWireTests.allocate(&app, appConnection)
            #expect(try PairingWireTests.transact(robotConnection, robot.channelBind(0x4000, appRelayed))?.messageClass == .successResponse)
            #expect(try PairingWireTests.transact(appConnection, app.channelBind(0x4000, robotRelayed))?.messageClass == .successResponse)
            func send(_ c: RelayConnection, _ payload: [UInt8]) throws { try c.send(TestClient.channelData(0x4000, payload)) }

            // The app is the DTLS client (RFC 5763 §5: the answerer's role in WebRTC varies; either works).
            try send(appConnection, D.clientHello)
            if version == "1.3" {
                try send(robotConnection, D.serverHello + D.unified(epoch: 2, 300))
                try send(appConnection, D.unified(epoch: 2, 60))  // client Finished
                try send(appConnection, D.unified(epoch: 3, 20))
                try send(robotConnection, D.unified(epoch: 3, 20))  // ACK / NewSessionTicket
            } else {
                try send(robotConnection, D.serverHello + D.plaintext(22, [11, 0, 1, 44] + [UInt8](repeating: 0, count: 300)))
                try send(appConnection, D.plaintext(20, [1]) + D.plaintext(22, epoch: 1, [20] + [UInt8](repeating: 7, count: 40)))
                try send(robotConnection, D.plaintext(20, [1]) + D.plaintext(22, epoch: 1, [20] + [UInt8](repeating: 7, count: 40)))
            }
            for i in 0..<10 {
                try send(robotConnection, rtpPacket(seq: UInt16(i), ssrc: 1))
                try send(appConnection, rtpPacket(seq: UInt16(i), ssrc: 2))
            }
            // The session starts at the sessions' next tick.
            let started = Date().addingTimeInterval(20)
            while server.sessions.activeSessions == 0 && Date() < started { usleep(50_000) }
            #expect(server.sessions.activeSessions == 1)

            // Both hang up (RFC 8656 §7.3: Refresh with lifetime 0).
            #expect(try PairingWireTests.transact(robotConnection, robot.refresh(lifetime: 0))?.messageClass == .successResponse)
            #expect(try PairingWireTests.transact(appConnection, app.refresh(lifetime: 0))?.messageClass == .successResponse)
            let hungUp = Date()
            while sink.all.first(where: { $0.type == "final" }) == nil && Date().timeIntervalSince(hungUp) < 30 { usleep(50_000) }
            let record = try #require(sink.all.first { $0.type == "final" })
            // Within seconds (the sessions tick once a second), not after session-idle (120 s).
            #expect(Date().timeIntervalSince(hungUp) < 60)
            #expect(record.endReason == "robot-left")
            #expect(record.dtls.handshakeSeen && record.dtls.completed, "\(record.dtls)")
            #expect(record.dtls.handshakeMillis != nil)
        }

        func rtpPacket(seq: UInt16, ssrc: UInt32) -> [UInt8] {
            [0x80, 111, UInt8(seq >> 8), UInt8(seq & 0xFF), 0, 0, UInt8(seq >> 8), UInt8(seq & 0xFF), 0, 0, 0, UInt8(ssrc)]
                + [UInt8](repeating: 0x5A, count: 80)
        }
    }
}
