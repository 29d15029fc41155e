import Foundation
import Logging
import RelayServer
import STUN
import TURN
import TestSupport
import Testing

extension IntegrationSuites {
    /// The whole relay in-process on loopback: real sockets, real workers, a scripted client and a
    /// UDP peer of the test's own.
    @Suite("av1relay over UDP on loopback", .serialized)
    struct UDPRelayTests {
        static let loopback = IPAddress.v4(0x7F00_0001)

        static func server(allowLoopback: Bool = true, ipv6: Bool = false, ports: ClosedRange<UInt16>) throws -> RelayServer {
            var c = RelayConfiguration()
            c.listen = [TransportAddress(ip: loopback, port: 0)] + (ipv6 ? [TransportAddress("[::1]:0")!] : [])
            c.relayAddresses = [loopback] + (ipv6 ? [IPAddress("::1")!] : [])
            c.minPort = ports.lowerBound
            c.maxPort = ports.upperBound
            c.users = ["alice": "wonderland"]
            c.allowPeers = allowLoopback ? [CIDR("127.0.0.0/8")!, CIDR("::1/128")!] : []
            c.workers = 2
            c.statsInterval = 0
            let s = try RelayServer(configuration: c, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
            s.start()
            return s
        }

        /// Allocates through `socket`, answering the 401 challenge; returns the relayed address.
        static func allocate(
            _ client: inout TestClient, _ socket: UDPTestSocket, _ server: TransportAddress,
            _ extra: @escaping (inout STUNMessageBuilder) -> Void = { _ in }
        ) throws -> STUNMessage {
            let challenge = try #require(socket.transact(client.allocate(extra), to: server))
            #expect(challenge.code == 401)
            client.learn(from: challenge)
            return try #require(socket.transact(client.allocate(extra), to: server))
        }

        @Test func allocatePermissionChannelAndDataBothWays() throws {
            let server = try Self.server(ports: RelayPortRanges.udpDataBothWays)
            defer { server.stop() }
            let relay = try #require(server.listeningAddresses.first)
            let client = try UDPTestSocket()
            let peer = try UDPTestSocket()
            var c = TestClient(username: "alice", password: "wonderland")
            let allocated = try Self.allocate(&c, client, relay)
            #expect(allocated.messageClass == .successResponse)
            let relayed = try #require(try allocated.xorAddress(.xorRelayedAddress))
            #expect(relayed.ip == Self.loopback && RelayPortRanges.udpDataBothWays.contains(relayed.port))
            #expect(try allocated.xorAddress(.xorMappedAddress) == client.address)

            #expect(client.transact(c.createPermission([peer.address]), to: relay)?.messageClass == .successResponse)
            client.send(TestClient.sendIndication(to: peer.address, data: Array("hello peer".utf8)), to: relay)
            let atPeer = try #require(peer.receive())
            #expect(atPeer.bytes == Array("hello peer".utf8) && atPeer.from == relayed)

            peer.send(Array("hello client".utf8), to: relayed)
            let data = try #require(client.receive().flatMap { try? STUNMessage(parsing: $0.bytes) })
            #expect(data.method == .data && data.value(.data).map(Array.init) == Array("hello client".utf8))
            #expect(try data.xorAddress(.xorPeerAddress) == peer.address)

            #expect(client.transact(c.channelBind(0x4000, peer.address), to: relay)?.messageClass == .successResponse)
            for i in 0..<50 {
                client.send(TestClient.channelData(0x4000, [UInt8(i), 1, 2]), to: relay)
                #expect(peer.receive()?.bytes == [UInt8(i), 1, 2])
                peer.send([UInt8(i), 3], to: relayed)
                #expect(client.receive()?.bytes == [0x40, 0x00, 0, 2, UInt8(i), 3])
            }
            #expect(client.transact(c.refresh(lifetime: 0), to: relay)?.messageClass == .successResponse)
            let (stats, allocations) = server.stats()
            #expect(allocations == 0)
            #expect(stats.packetsToPeers == 51 && stats.packetsToClients == 51)
        }

        @Test func deniedPeersAreRefusedOnTheWire() throws {
            let server = try Self.server(allowLoopback: false, ipv6: true, ports: RelayPortRanges.udpDeniedPeers)
            defer { server.stop() }
            let relay = try #require(server.listeningAddresses.first)
            let client = try UDPTestSocket()
            var c = TestClient(username: "alice", password: "wonderland")
            #expect(
                try Self.allocate(&c, client, relay) { $0.append(.additionalAddressFamily, [2, 0, 0, 0]) }.messageClass == .successResponse)
            let denied = [
                "127.0.0.1:9", "10.0.0.1:9", "172.16.5.4:9", "192.168.0.1:9", "100.64.1.1:9", "169.254.169.254:80",
                "0.0.0.0:9", "224.0.0.251:5353", "255.255.255.255:9", "240.0.0.1:9", "[::1]:9", "[::]:9", "[fe80::1]:9",
                "[fd00::1]:9", "[ff02::1]:9", "[::ffff:127.0.0.1]:9", "[::ffff:10.0.0.1]:9", "[::127.0.0.1]:9",
                "[64:ff9b::7f00:1]:9", "[2002:7f00:1::1]:9",
            ]
            for text in denied {
                let peer = try #require(TransportAddress(text))
                #expect(client.transact(c.createPermission([peer]), to: relay)?.code == 403, "\(text)")
                #expect(client.transact(c.channelBind(0x4001, peer), to: relay)?.code == 403, "\(text)")
            }
            #expect(client.transact(c.createPermission([TransportAddress("8.8.8.8:53")!]), to: relay)?.messageClass == .successResponse)
        }

        @Test func badAndTruncatedInputKeepsTheServerServing() throws {
            let server = try Self.server(ports: RelayPortRanges.udpBadInput)
            defer { server.stop() }
            let relay = try #require(server.listeningAddresses.first)
            let client = try UDPTestSocket()
            var c = TestClient(username: "alice", password: "wonderland")
            _ = try Self.allocate(&c, client, relay)
            let valid = c.createPermission([TransportAddress("8.8.8.8:1")!])
            let junk: [[UInt8]] = [
                [], [0], [0xFF, 0xFF], Array(valid.prefix(19)), Array(valid.prefix(valid.count - 4)),
                Array(repeating: 0x41, count: 4000), [0x40, 0x00, 0xFF, 0xFF, 1], valid.map { $0 ^ 0x5A },
            ]
            for j in junk { client.send(j, to: relay) }
            // A request whose attributes overrun: answered 400, not dropped.
            var broken = valid
            broken[22] = 0x7F
            #expect(client.transact(broken, to: relay)?.code == 400)
            var b = STUNMessageBuilder(method: .binding, class: .request, transactionID: .random())
            b.appendFingerprint()
            let binding = try #require(client.transact(b.bytes, to: relay))
            #expect(try binding.xorAddress(.xorMappedAddress) == client.address)
            #expect(client.transact(valid, to: relay)?.messageClass == .successResponse)
            #expect(server.stats().stats.malformed >= 5)
        }

        @Test func relayPortsRunOutWith508() throws {
            let server = try Self.server(ports: RelayPortRanges.udpExhaustion)
            defer { server.stop() }
            let relay = try #require(server.listeningAddresses.first)
            var sockets: [UDPTestSocket] = []
            var codes: [Int?] = []
            for _ in 0..<3 {
                let s = try UDPTestSocket()
                var c = TestClient(username: "alice", password: "wonderland")
                let r = try Self.allocate(&c, s, relay)
                codes.append(r.messageClass == .successResponse ? 0 : r.code)
                sockets.append(s)
            }
            #expect(codes == [0, 0, 508])
        }
    }
}
