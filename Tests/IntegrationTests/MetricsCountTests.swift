import AdminAPI
import Foundation
import Glibc
import STUN
import TestSupport
import Testing

extension IntegrationSuites {
    /// The metrics count what happened: what coturn's client says it sent and received, and the
    /// refusals and drops of a scripted sequence of bad requests, one for one.
    @Suite("Metrics count what happened")
    struct MetricsCountTests {
        /// `turnutils_uclient` through the binary, scraped through its admin API: the packets relayed
        /// each way are what uclient reports it sent and got back.
        @Test func relayedPacketsAreWhatUclientReports() throws {
            let reader = try Admin.token("prometheus", "read")
            let relay = try Interop.relay(
                [
                    "--listen", "127.0.0.1:0", "--tcp-listen", "none", "--user", "demo:demo-password", "--allow-peer", "127.0.0.0/8",
                    "--channel-range", "rfc5766", "--session-store", "none", "--admin-listen", "127.0.0.1:0", "--admin-token",
                    reader.config,
                ] + RelayPortRanges.arguments(RelayPortRanges.adminAPI))
            defer { relay.stop() }
            let port = try Interop.port(relay, "udp")
            let metrics = "http://127.0.0.1:\(try Admin.port(relay))/metrics"
            let (peer, peerPort) = try Interop.echoPeer()
            defer { peer.stop() }
            let client = try Interop.uclient(
                ["-c", "-u", "demo", "-w", "demo-password"], port: port, peerPort: peerPort, messages: 50, clients: 4)
            #expect(client.wait(seconds: 60) != nil, "uclient did not finish: \(client.text.suffix(2000))")
            let summary = CoturnInteropTests.Summary(client.text)
            #expect(summary.sent == 200 && summary.received > 0, "\(client.text.suffix(1500))")
            // uclient's last echoes may still be on their way back when it stops counting: wait until
            // the relay has relayed back as many as it got, then they must agree exactly.
            var scrape = ""
            _ = eventually(seconds: 10) {
                scrape = (try? Admin.request("GET", metrics, token: reader.token).body) ?? ""
                return Metrics.sum(scrape, "av1relay_packets_relayed_total", ["direction": "peer_to_client"]) >= Double(summary.received)
            }
            #expect(
                Metrics.sum(scrape, "av1relay_packets_relayed_total", ["direction": "client_to_peer"]) == Double(summary.sent), "\(scrape)")
            #expect(
                Metrics.sum(scrape, "av1relay_packets_relayed_total", ["direction": "peer_to_client"]) == Double(summary.received),
                "\(scrape)")
            #expect(Metrics.sum(scrape, "av1relay_packets_received_total", ["from": "peer"]) == Double(summary.received), "\(scrape)")
            // uclient makes two allocations per client; they are all gone when it is done.
            #expect(Metrics.sum(scrape, "av1relay_allocations_created_total", ["transport": "udp"]) >= 4, "\(scrape)")
            #expect(Metrics.sum(scrape, "av1relay_packets_dropped_total") == 0, "\(scrape)")
            #expect(Metrics.sum(scrape, "av1relay_receive_batch_datagrams_count") > 0, "\(scrape)")
            #expect(Metrics.sum(scrape, "av1relay_worker_busy_seconds_total") > 0, "\(scrape)")
            relay.signal(SIGTERM)
            #expect(relay.wait(seconds: 30) == 0, "\(relay.text)")
        }

        /// A script of bad requests and bad data against an in-process relay: every refusal the
        /// clients saw is counted under its method and code, and every drop under its reason.
        @Test func refusalsAndDropsMatchAScript() throws {
            let server = try TestRelay.start(ports: RelayPortRanges.metricsRefusals, tcp: false) {
                $0.users = ["alice": "wonderland", "bob": "builder", "carol": "singer"]
                $0.userQuota = 1
            }
            defer { server.stop() }
            let relay = try #require(server.udpAddresses.first)
            let exporter = MetricsExporter(server: server)
            var seen: [String: Int] = [:]
            /// Sends `request` from `socket`, notes the answer's code, checks it is `expected`.
            func expect(
                _ expected: Int?, _ method: String, _ socket: UDPTestSocket, _ request: [UInt8],
                sourceLocation: SourceLocation = #_sourceLocation
            ) throws -> STUNMessage {
                let answer = try #require(socket.transact(request, to: relay), sourceLocation: sourceLocation)
                if let code = answer.code { seen["\(method)/\(code)", default: 0] += 1 }
                #expect(answer.code == expected, "\(method): \(String(describing: answer.code))", sourceLocation: sourceLocation)
                return answer
            }

            let a = try UDPTestSocket()
            var alice = TestClient(username: "alice", password: "wonderland")
            alice.learn(from: try expect(401, "allocate", a, alice.allocate()))
            var impostor = alice
            impostor.password = "not-wonderland"
            _ = try expect(401, "allocate", a, impostor.allocate())
            var stale = alice
            stale.nonce = "not-a-nonce-of-this-relay"
            _ = try expect(438, "allocate", a, stale.allocate())
            _ = try expect(nil, "allocate", a, alice.allocate())
            _ = try expect(437, "allocate", a, alice.allocate())  // a second allocation on the same 5-tuple
            let loopbackPeer = TransportAddress(ip: .v4(0x7F00_0002), port: 9)  // loopback, not the relay's own
            _ = try expect(403, "create_permission", a, alice.createPermission([loopbackPeer]))
            _ = try expect(400, "channel_bind", a, alice.channelBind(0x3000, TransportAddress(ip: .v4(0x0808_0808), port: 9)))
            _ = try expect(420, "binding", a, alice.request(.binding) { $0.append(STUNAttributeType(rawValue: 0x0031), [1, 2, 3, 4]) })

            // A nonce belongs to the client's address: each new socket is challenged first.
            let a2 = try UDPTestSocket()
            var alice2 = TestClient(username: "alice", password: "wonderland")
            alice2.learn(from: try expect(401, "allocate", a2, alice2.allocate()))
            _ = try expect(486, "allocate", a2, alice2.allocate())  // alice's quota is one allocation
            let b = try UDPTestSocket()
            var bob = TestClient(username: "bob", password: "builder")
            // Without credentials, a Refresh from a 5-tuple with no allocation is told so at once.
            _ = try expect(437, "refresh", b, bob.refresh(lifetime: 600))
            bob.learn(from: try expect(401, "allocate", b, bob.allocate()))
            _ = try expect(437, "refresh", b, bob.refresh(lifetime: 600))  // signed: no allocation yet
            _ = try expect(nil, "allocate", b, bob.allocate())
            let c = try UDPTestSocket()
            var carol = TestClient(username: "carol", password: "singer")
            carol.learn(from: try expect(401, "allocate", c, carol.allocate()))
            _ = try expect(508, "allocate", c, carol.allocate())  // both relay ports are taken

            // Data the relay must drop, one of each reason; a Binding after each shows it was read.
            let probe = try UDPTestSocket()
            func dropped(_ bytes: [UInt8], from socket: UDPTestSocket) throws {
                socket.send(bytes, to: relay)
                _ = try expect(
                    nil, "binding", socket, STUNMessageBuilder(method: .binding, class: .request, transactionID: .random()).bytes)
            }
            try dropped(TestClient.sendIndication(to: TransportAddress(ip: .v4(0x0808_0808), port: 9), data: [1]), from: a)
            try dropped(TestClient.channelData(0x4001, [1, 2, 3]), from: a)
            try dropped(TestClient.channelData(0x4001, [1, 2, 3]), from: probe)
            try dropped([0xFF, 0xFF, 0xFF, 0xFF, 0xFF], from: probe)

            let scrape = exporter.scrape()
            var counted: [String: Int] = [:]
            for line in scrape.split(separator: "\n") where line.hasPrefix("av1relay_requests_refused_total{") {
                let method = line.firstMatch(of: /method="([a-z_]+)"/)?.output.1 ?? "?"
                let code = line.firstMatch(of: /code="([a-z0-9]+)"/)?.output.1 ?? "?"
                counted["\(method)/\(code)"] = Int(Double(line.split(separator: " ").last ?? "") ?? -1)
            }
            #expect(counted == seen, "\(scrape)")
            #expect(Metrics.sum(scrape, "av1relay_error_responses_total") == Double(seen.values.reduce(0, +)))
            for (reason, n) in [("no_permission", 1.0), ("no_channel", 1), ("no_allocation", 1), ("malformed", 1)] {
                #expect(Metrics.sum(scrape, "av1relay_packets_dropped_total", ["reason": reason]) == n, "\(reason): \(scrape)")
            }
            #expect(Metrics.sum(scrape, "av1relay_packets_dropped_total") == 4, "\(scrape)")
            #expect(Metrics.sum(scrape, "av1relay_peers_denied_total", ["class": "loopback"]) == 1, "\(scrape)")
            #expect(Metrics.sum(scrape, "av1relay_allocations_by_kind", ["transport": "udp", "family": "ipv4"]) == 2, "\(scrape)")
        }
    }
}
