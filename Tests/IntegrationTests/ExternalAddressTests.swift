import Foundation
import RelayServer
import STUN
import Sockets
import TURN
import TestSupport
import Testing

extension IntegrationSuites {
    /// Behind 1:1 NAT (issue 9): relay sockets bind the private address, clients are told the
    /// public one, and partners reach each other through it.
    @Suite("External addresses", .serialized)
    struct ExternalAddressTests {
        static let privateIP = IPAddress("127.0.0.2")!
        static let publicIP = IPAddress("127.0.0.3")!

        static func transact(_ socket: UDPTestSocket, _ relay: TransportAddress, _ request: [UInt8]) -> STUNMessage? {
            socket.send(request, to: relay)
            let tid = TransactionID(bytes: request[8..<20])
            for _ in 0..<10 {
                guard let (bytes, _) = socket.receive() else { return nil }
                if let m = try? STUNMessage(parsing: bytes), m.transactionID == tid { return m }
            }
            return nil
        }

        static func allocate(_ client: inout TestClient, _ socket: UDPTestSocket, _ relay: TransportAddress) throws -> TransportAddress {
            let challenge = try #require(transact(socket, relay, client.allocate()))
            _ = client.learn(from: challenge)
            let answer = try #require(transact(socket, relay, client.allocate()))
            return try #require(try answer.xorAddress(.xorRelayedAddress))
        }

        @Test func clientsAreToldThePublicAddressAndPeersReachThePrivateSocket() throws {
            let server = try TestRelay.start(ports: 32900...32949, tcp: false) {
                $0.relayAddresses = [Self.privateIP]
                $0.externalAddresses = [ExternalAddress(public: Self.publicIP, local: Self.privateIP)]
                $0.users = ["alice": "wonderland"]
                $0.allowPeers = [CIDR("127.0.0.0/8")!]
            }
            defer { server.stop() }
            let relay = try #require(server.udpAddresses.first)
            let socket = try UDPTestSocket()
            var client = TestClient(username: "alice", password: "wonderland")
            let relayed = try Self.allocate(&client, socket, relay)
            #expect(relayed.ip == Self.publicIP)
            let peer = try UDPTestSocket()
            #expect(Self.transact(socket, relay, client.createPermission([peer.address]))?.messageClass == .successResponse)
            // What the NAT delivers arrives at the private side of the same port.
            peer.send([1, 2, 3], to: TransportAddress(ip: Self.privateIP, port: relayed.port))
            let data = try #require(socket.receive().flatMap { try? STUNMessage(parsing: $0.bytes) })
            #expect(data.method == .data && data.value(.data).map(Array.init) == [1, 2, 3])
            socket.send(TestClient.sendIndication(to: peer.address, data: [9, 9]), to: relay)
            let out = try #require(peer.receive())
            #expect(out.bytes == [9, 9] && out.from == TransportAddress(ip: Self.privateIP, port: relayed.port))
        }

        @Test func pairedPartnersReachEachOtherThroughThePublicAddresses() throws {
            let server = try TestRelay.start(ports: 32950...32999, tcp: false) {
                $0.relayAddresses = [Self.privateIP]
                $0.externalAddresses = [ExternalAddress(public: Self.publicIP)]
                $0.authSecrets = ["nat-secret"]
                $0.pairing = true
            }
            defer { server.stop() }
            let relay = try #require(server.udpAddresses.first)
            var robot = TestClient.rest(secret: "nat-secret", identity: "robot:n1")
            var app = TestClient.rest(secret: "nat-secret", identity: "app:n1")
            let robotSocket = try UDPTestSocket()
            let appSocket = try UDPTestSocket()
            let robotRelayed = try Self.allocate(&robot, robotSocket, relay)
            let appRelayed = try Self.allocate(&app, appSocket, relay)
            #expect(robotRelayed.ip == Self.publicIP && appRelayed.ip == Self.publicIP)
            #expect(Self.transact(robotSocket, relay, robot.channelBind(0x4000, appRelayed))?.messageClass == .successResponse)
            #expect(Self.transact(appSocket, relay, app.channelBind(0x4000, robotRelayed))?.messageClass == .successResponse)
            robotSocket.send(TestClient.channelData(0x4000, [7, 7, 7]), to: relay)
            #expect(appSocket.receive()?.bytes == TestClient.channelData(0x4000, [7, 7, 7]))
        }
    }
}
