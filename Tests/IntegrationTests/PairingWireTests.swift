import AV1Endpoint
import Foundation
import Logging
import RelayIO
import RelayServer
import STUN
import Sockets
import TURN
import TestSupport
import Testing

extension IntegrationSuites {
    /// Pairing enforced on a real relay, over UDP, TCP and TLS: partners get through, another
    /// device's credential and a non-partner address get 403.
    @Suite("Pairing on the wire", .serialized)
    struct PairingWireTests {
        static func transact(_ c: RelayConnection, _ request: [UInt8]) throws -> STUNMessage? {
            let tid = TransactionID(bytes: request[8..<20])
            try c.send(request)
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline {
                if let bytes = try c.receive(timeoutMillis: 200), let m = try? STUNMessage(parsing: bytes), m.transactionID == tid {
                    return m
                }
            }
            return nil
        }

        static func allocate(_ client: inout TestClient, _ c: RelayConnection) throws -> TransportAddress {
            let challenge = try #require(try transact(c, client.allocate()))
            client.learn(from: challenge)
            let r = try #require(try transact(c, client.allocate()))
            return try #require(try r.xorAddress(.xorRelayedAddress))
        }

        @Test(arguments: [RelayTransport.udp, .tcp, .tls])
        func anotherDevicesCredentialOrAddressIsRefused(transport: RelayTransport) throws {
            let dir = NSTemporaryDirectory() + "av1relay-pairing-\(getpid())"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try StreamInteropTests.makeCertificate(dir, "relay", cn: "relay.test")
            var config = RelayConfiguration()
            config.listen = [TransportAddress("127.0.0.1:0")!]
            config.tcpListen = [TransportAddress("127.0.0.1:0")!]
            config.tlsListen = [TransportAddress("127.0.0.1:0")!]
            config.tlsCertificate = "\(dir)/relay-cert.pem"
            config.tlsKey = "\(dir)/relay-key.pem"
            config.minPort = RelayPortRanges.pairingWire.lowerBound
            config.maxPort = RelayPortRanges.pairingWire.upperBound
            config.authSecrets = ["pair-secret"]
            config.pairing = true
            config.statsInterval = 0
            let server = try RelayServer(
                configuration: config, tls: try RelayServer.loadTLS(config), logger: Logger(label: "t") { _ in SwiftLogNoOpLogHandler() })
            server.start()
            defer { server.stop() }
            let address = try #require(
                transport == .udp ? server.udpAddresses.first : transport == .tcp ? server.tcpAddresses.first : server.tlsAddresses.first)
            func client(_ identity: String) -> TestClient {
                let c = Authenticator.restCredential(
                    secret: "pair-secret", expiry: Int64(Date().timeIntervalSince1970) + 600, identity: identity)
                return TestClient(username: c.username, password: c.password)
            }
            var robot = client("robot:A")
            var app = client("app:A")
            var otherApp = client("app:B")
            let robotConnection = try RelayConnection(
                to: address, transport: transport, tls: .init(caFile: "\(dir)/relay-cert.pem"), timeoutSeconds: 20)
            let appConnection = try RelayConnection(
                to: address, transport: transport, tls: .init(caFile: "\(dir)/relay-cert.pem"), timeoutSeconds: 20)
            let otherConnection = try RelayConnection(
                to: address, transport: transport, tls: .init(caFile: "\(dir)/relay-cert.pem"), timeoutSeconds: 20)
            let robotRelayed = try Self.allocate(&robot, robotConnection)
            let appRelayed = try Self.allocate(&app, appConnection)
            let otherRelayed = try Self.allocate(&otherApp, otherConnection)

            #expect(try Self.transact(robotConnection, robot.channelBind(0x4000, appRelayed))?.messageClass == .successResponse)
            #expect(try Self.transact(appConnection, app.channelBind(0x4000, robotRelayed))?.messageClass == .successResponse)
            // Another device's app may not reach robot A, and robot A may not reach it.
            #expect(try Self.transact(otherConnection, otherApp.channelBind(0x4000, robotRelayed))?.code == 403)
            #expect(try Self.transact(otherConnection, otherApp.createPermission([robotRelayed]))?.code == 403)
            #expect(try Self.transact(robotConnection, robot.createPermission([otherRelayed]))?.code == 403)
            // Nor an outside address, nor a plain credential.
            #expect(try Self.transact(robotConnection, robot.createPermission([TransportAddress("8.8.8.8:53")!]))?.code == 403)
            var plain = client("somebody")
            let plainConnection = try RelayConnection(
                to: address, transport: transport, tls: .init(caFile: "\(dir)/relay-cert.pem"), timeoutSeconds: 20)
            let challenge = try #require(try Self.transact(plainConnection, plain.allocate()))
            plain.learn(from: challenge)
            #expect(try Self.transact(plainConnection, plain.allocate())?.code == 403)

            // The partners' data flows through the relay.
            try robotConnection.send(TestClient.channelData(0x4000, [1, 2, 3], padded: transport != .udp))
            var got: [UInt8]?
            let deadline = Date().addingTimeInterval(10)
            while got == nil && Date() < deadline {
                if let m = try appConnection.receive(timeoutMillis: 200), m.first == 0x40 { got = Array(m[4..<7]) }
            }
            #expect(got == [1, 2, 3])
        }
    }
}
