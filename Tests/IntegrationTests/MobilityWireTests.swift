import AV1Endpoint
import Foundation
import Glibc
import Logging
import RelayServer
import STUN
import Sessions
import TURN
import TestSupport
import Testing

extension IntegrationSuites {
    /// RFC 8016 on real sockets: an allocation that follows its client from socket to socket
    /// (and so, by SO_REUSEPORT's hash, from worker to worker), and a robot that roams mid-call.
    @Suite("Mobility on the wire (RFC 8016)", .serialized)
    struct MobilityWireTests {
        /// A Refresh with `ticket` from `socket`, answering a 438 for a nonce bound to another IP.
        static func move(_ client: inout TestClient, ticket: [UInt8], from socket: UDPTestSocket, to relay: TransportAddress)
            -> STUNMessage?
        {
            func request(_ c: TestClient) -> [UInt8] {
                c.request(.refresh) { b in
                    b.append(.lifetime, uint32: 600)
                    b.append(.mobilityTicket, ticket)
                }
            }
            guard let first = socket.transact(request(client), to: relay) else { return nil }
            guard first.code == 438, client.learn(from: first) else { return first }
            return socket.transact(request(client), to: relay)
        }

        @Test func anAllocationFollowsItsClientAcrossSocketsAndWorkers() throws {
            let server = try UDPRelayTests.server(ports: RelayPortRanges.mobilityWire)
            defer { server.stop() }
            let relay = try #require(server.listeningAddresses.first)
            let peer = try UDPTestSocket()
            var socket = try UDPTestSocket()
            var c = TestClient(username: "alice", password: "wonderland")
            let allocated = try UDPRelayTests.allocate(&c, socket, relay) { $0.append(.mobilityTicket, []) }
            let relayed = try #require(try allocated.xorAddress(.xorRelayedAddress))
            var ticket = try #require(allocated.value(.mobilityTicket).map(Array.init))
            #expect(socket.transact(c.channelBind(0x4000, peer.address), to: relay)?.messageClass == .successResponse)

            // Twenty moves, each to a new port on one of four loopback addresses: the kernel hashes
            // each new 5-tuple to one of the two workers, so some moves stay and some cross (all
            // twenty on one worker: one chance in a million).
            let moves = 20
            for i in 0..<moves {
                let next = try UDPTestSocket(TransportAddress(ip: .v4(0x7F00_0001 + UInt32(i % 4)), port: 0))
                let answer = try #require(Self.move(&c, ticket: ticket, from: next, to: relay), "move \(i)")
                #expect(answer.messageClass == .successResponse, "move \(i): \(answer.code ?? 0)")
                ticket = try #require(answer.value(.mobilityTicket).map(Array.init))
                socket = next
                // The same channel, both ways, from the new socket.
                socket.send(TestClient.channelData(0x4000, [UInt8(i), 1]), to: relay)
                #expect(peer.receive()?.bytes == [UInt8(i), 1], "move \(i)")
                peer.send([UInt8(i), 2], to: relayed)
                #expect(socket.receive()?.bytes == [0x40, 0x00, 0, 2, UInt8(i), 2], "move \(i)")
            }
            // A forged ticket from yet another socket moves nothing.
            var forged = ticket
            forged[5] = forged[5] == UInt8(ascii: "x") ? UInt8(ascii: "y") : UInt8(ascii: "x")
            let stranger = try UDPTestSocket()
            #expect(Self.move(&c, ticket: forged, from: stranger, to: relay)?.code == 437)
            peer.send([9], to: relayed)
            #expect(socket.receive()?.bytes == [0x40, 0x00, 0, 1, 9])

            let snapshot = server.snapshot()
            let moved = snapshot.events.allocationsMoved
            #expect(moved[0] + moved[1] == moves && moved[1] >= 1, "within a worker \(moved[0]), across \(moved[1])")
            #expect(snapshot.allocations == 1)
        }

        /// `av1sim pair --roam-at 3`: the robot moves to 127.0.0.2 three seconds into the call and
        /// takes its allocation along; the call goes on (≥ 95 % of frames decoded, the issue's
        /// figure) and the relay writes one session, with the move and its gap.
        @Test(arguments: ["udp", "tcp"])
        func aRobotRoamsMidCallAndKeepsItsSession(transport: String) throws {
            let dir = NSTemporaryDirectory() + "av1relay-roam-\(getpid())-\(transport)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let relay = try Interop.relay(
                [
                    "--listen", "127.0.0.1:0", "--tcp-listen", transport == "tcp" ? "127.0.0.1:0" : "none", "--auth-secret", "roam",
                    "--pairing", "on", "--workers", "2", "--session-log", "\(dir)/sessions.jsonl", "--session-interim", "2",
                    "--session-idle", "2",
                ] + RelayPortRanges.arguments(RelayPortRanges.mobilityCalls))
            defer { relay.stop() }
            let port = try Interop.port(relay, transport)
            let sim = try Child(
                Binaries.av1sim,
                [
                    "pair", "--relay", "127.0.0.1:\(port)", "--transport", transport, "--secret", "roam", "--device", "robot-roam",
                    "--duration", "8", "--roam-at", "3", "--width", "320", "--height", "240", "--json", "\(dir)/pair.json",
                    "--min-delivered", "0.95",
                ])
            #expect(sim.wait(seconds: 60) == 0, "\(sim.text)")
            let pair = try JSONDecoder().decode(PairReport.self, from: Data(contentsOf: URL(fileURLWithPath: "\(dir)/pair.json")))
            let roam = try #require(pair.robot.roam, "\(sim.text)")
            #expect(roam.from.hasPrefix("127.0.0.1:") && roam.to.hasPrefix("127.0.0.2:"))
            #expect(roam.atSeconds >= 3 && roam.atSeconds < 8)
            #expect(pair.videoDelivered >= 0.95, "\(pair.summary)")

            var lines: [Substring] = []
            let ended = eventually {
                let text = (try? String(contentsOfFile: "\(dir)/sessions.jsonl", encoding: .utf8)) ?? ""
                lines = text.split(separator: "\n")
                return text.contains("\"type\":\"final\"")
            }
            try #require(ended, "no final session record: \(lines)")
            let records = try lines.map { try JSONDecoder().decode(SessionRecord.self, from: Data($0.utf8)) }
            #expect(Set(records.map(\.sessionID)).count == 1, "one session, not two: \(lines)")
            let final = try #require(records.first { $0.type == "final" })
            #expect(records.filter { $0.type == "final" }.count == 1)
            #expect(final.transports == ["robot": transport, "app": transport])
            let robot = try #require(final.mobility?["robot"], "\(lines.last ?? "")")
            #expect(robot.moves == 1)
            // The gap is what the move cost the robot's media: milliseconds on loopback; wide here.
            #expect(robot.longestGapMillis > 0 && robot.longestGapMillis < 3000, "\(robot)")
            #expect(final.mobility?["app"] == nil)
            let video = try #require(final.directions["robot_to_app"]?["video"])
            #expect(video.packets > 0 && video.lossPercent < 5, "\(video)")
            // Privacy holds across the move: neither address is in a record.
            let raw = lines.joined(separator: "\n")
            for f in ["127.0.0.1", "127.0.0.2", "robot:robot-roam"] { #expect(!raw.contains(f), "\(f) in a record") }
        }
    }
}
