import Foundation
import Glibc
import Logging
import RelayIO
import RelayServer
import STUN
import Sockets
import TURN
import TestSupport
import Testing

extension IntegrationSuites {
    /// TURN over TCP (RFC 8656 §3.1) against the relay in-process: same engine, framed streams.
    @Suite("av1relay over TCP on loopback", .serialized)
    struct StreamRelayTests {
        static func server(ports: ClosedRange<UInt16>, _ configure: (inout RelayConfiguration) -> Void = { _ in }) throws -> RelayServer {
            var c = RelayConfiguration()
            c.listen = [TransportAddress("127.0.0.1:0")!]
            c.tcpListen = [TransportAddress("127.0.0.1:0")!]
            c.minPort = ports.lowerBound
            c.maxPort = ports.upperBound
            c.users = ["alice": "wonderland"]
            c.allowPeers = [CIDR("127.0.0.0/8")!]
            c.workers = 2
            c.statsInterval = 0
            configure(&c)
            let s = try RelayServer(configuration: c, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
            s.start()
            return s
        }

        static func allocate(_ client: inout TestClient, _ socket: TCPTestSocket) throws -> STUNMessage {
            let challenge = try #require(socket.transact(client.allocate()))
            client.learn(from: challenge)
            return try #require(socket.transact(client.allocate()))
        }

        @Test func allocatePermissionChannelAndDataOverTCP() throws {
            let server = try Self.server(ports: RelayPortRanges.tcpDataOverTCP)
            defer { server.stop() }
            let tcp = try TCPTestSocket(connectTo: try #require(server.tcpAddresses.first))
            let peer = try UDPTestSocket()
            var c = TestClient(username: "alice", password: "wonderland")
            let allocated = try Self.allocate(&c, tcp)
            #expect(allocated.messageClass == .successResponse)
            let relayed = try #require(try allocated.xorAddress(.xorRelayedAddress))
            #expect(try allocated.xorAddress(.xorMappedAddress) == tcp.localAddress)

            #expect(tcp.transact(c.createPermission([peer.address]))?.messageClass == .successResponse)
            tcp.send(TestClient.sendIndication(to: peer.address, data: [1, 2, 3]))
            #expect(peer.receive()?.bytes == [1, 2, 3])
            peer.send([4, 5, 6, 7, 8], to: relayed)
            let data = try #require(tcp.receive().flatMap { try? STUNMessage(parsing: $0) })
            #expect(data.method == .data && data.value(.data).map(Array.init) == [4, 5, 6, 7, 8])

            #expect(tcp.transact(c.channelBind(0x4001, peer.address))?.messageClass == .successResponse)
            // Several messages in one write, one of them split across two writes.
            let burst = (0..<5).flatMap { TestClient.channelData(0x4001, [UInt8($0), 9, 9], padded: true) }
            tcp.send(Array(burst.prefix(13)))
            tcp.send(Array(burst.dropFirst(13)))
            for i in 0..<5 { #expect(peer.receive()?.bytes == [UInt8(i), 9, 9]) }
            peer.send([7, 7, 7, 7, 7], to: relayed)
            #expect(tcp.receive() == [0x40, 0x01, 0, 5, 7, 7, 7, 7, 7, 0, 0, 0])  // padded on a stream
        }

        @Test func garbageClosesThatConnectionOnlyAndItsAllocationGoes() throws {
            let server = try Self.server(ports: RelayPortRanges.tcpGarbage)
            defer { server.stop() }
            let address = try #require(server.tcpAddresses.first)
            let good = try TCPTestSocket(connectTo: address)
            var gc = TestClient(username: "alice", password: "wonderland")
            #expect(try Self.allocate(&gc, good).messageClass == .successResponse)
            let bad = try TCPTestSocket(connectTo: address)
            var bc = TestClient(username: "alice", password: "wonderland")
            #expect(try Self.allocate(&bc, bad).messageClass == .successResponse)
            #expect(server.stats().allocations == 2)
            bad.send([0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0])
            #expect(bad.closedByServer())
            #expect(server.stats().allocations == 1)
            #expect(good.transact(gc.refresh(lifetime: 600))?.messageClass == .successResponse)
            #expect(server.snapshot().streamFramingErrors == 1)
        }

        @Test func clientVanishingMidMessageFreesTheAllocation() throws {
            let server = try Self.server(ports: RelayPortRanges.tcpVanishingClient)
            defer { server.stop() }
            do {
                let tcp = try TCPTestSocket(connectTo: try #require(server.tcpAddresses.first))
                var c = TestClient(username: "alice", password: "wonderland")
                #expect(try Self.allocate(&c, tcp).messageClass == .successResponse)
                #expect(server.stats().allocations == 1)
                tcp.send(Array(c.refresh(lifetime: 600).prefix(30)))  // half a message, then gone
            }
            #expect(eventually { server.stats().allocations == 0 }, "the allocation outlived its connection by 30 s")
        }

        @Test func silentConnectionsTimeOutAndCapsRefuseTheRest() throws {
            let server = try Self.server(ports: RelayPortRanges.tcpTimeoutsAndCaps) {
                $0.handshakeTimeout = 1
                $0.maxConnectionsPerAddress = 2
            }
            defer { server.stop() }
            let address = try #require(server.tcpAddresses.first)
            let silent = try TCPTestSocket(connectTo: address, timeout: 20)
            let second = try TCPTestSocket(connectTo: address, timeout: 20)
            let third = try TCPTestSocket(connectTo: address, timeout: 20)
            #expect(third.closedByServer())  // over the per-address cap
            #expect(silent.closedByServer())  // said nothing within the handshake timeout
            #expect(second.closedByServer())
            let s = server.snapshot()
            #expect(s.streamRefused == 1 && s.streamTimeouts == 2 && s.connections == 0)
        }
    }

    /// coturn's client over TCP and TLS against the av1relay binary, and a certificate reload under a
    /// live TLS session.
    @Suite("Interop over TCP and TLS", .serialized)
    struct StreamInteropTests {
        /// A self-signed certificate for `cn` and the loopback addresses the tests' relays listen on
        /// (its own CA: clients that verify are given it as `--tls-ca`).
        static func makeCertificate(_ dir: String, _ name: String, cn: String) throws {
            let p = try Child(
                "/usr/bin/openssl",
                [
                    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", "/CN=\(cn)", "-addext", "subjectAltName=DNS:\(cn),IP:127.0.0.1,IP:127.0.0.2,IP:127.0.0.3,IP:127.0.0.4,IP:::1",
                    "-keyout", "\(dir)/\(name)-key.pem", "-out", "\(dir)/\(name)-cert.pem",
                ])
            #expect(p.wait(seconds: 30) == 0, "openssl: \(p.text)")
        }

        /// The CN of the certificate a TLS server presents.
        static func servedCN(_ port: UInt16) throws -> String {
            let p = try Child(
                "/bin/sh", ["-c", "echo | openssl s_client -connect 127.0.0.1:\(port) 2>/dev/null | openssl x509 -noout -subject"])
            _ = p.wait(seconds: 20)
            return p.text.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        @Test(arguments: [
            (["-t", "-c"], false), (["-t", "-c", "-s"], false), (["-t", "-S", "-c"], true), (["-t", "-S", "-c", "-s"], true),
        ])
        func uclient(mode: [String], tls: Bool) throws {
            let dir = NSTemporaryDirectory() + "av1relay-tls-\(getpid())"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try Self.makeCertificate(dir, "relay", cn: "relay.test")
            let reader = try Admin.token("prometheus", "read")
            let relay = try Interop.relay(
                [
                    "--listen", "none", "--tcp-listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0",
                    "--tls-cert", "\(dir)/relay-cert.pem", "--tls-key", "\(dir)/relay-key.pem", "--user", "demo:demo",
                    "--allow-peer", "127.0.0.0/8", "--channel-range", "rfc5766", "--session-store", "none", "--admin-listen",
                    "127.0.0.1:0", "--admin-token", reader.config,
                ] + RelayPortRanges.arguments(RelayPortRanges.streamInterop))
            defer { relay.stop() }
            let port = try Interop.port(relay, tls ? "tls" : "tcp")
            let metrics = "http://127.0.0.1:\(try Admin.port(relay))/metrics"
            let (peer, peerPort) = try Interop.echoPeer()
            defer { peer.stop() }
            let client = try Interop.uclient(mode + ["-u", "demo", "-w", "demo"], port: port, peerPort: peerPort, messages: 60, clients: 5)
            #expect(client.wait(seconds: 60) != nil)
            let summary = CoturnInteropTests.Summary(client.text)
            #expect(summary.sent == 300, "\(mode): \(client.text.suffix(1500))")
            #expect(summary.mostlyReceived && summary.littleLost, "\(mode): \(summary)")

            // The metrics saw the connections: allocations over this transport, each one's close,
            // and for TLS the handshakes; then a client that speaks no TLS fails its handshake.
            let transport = tls ? "tls" : "tcp"
            var scrape = ""
            let closed = eventually(seconds: 30) {
                scrape = (try? Admin.request("GET", metrics, token: reader.token).body) ?? ""
                return Metrics.sum(scrape, "av1relay_stream_connections") == 0
            }
            #expect(closed, "\(scrape)")
            let created = Metrics.sum(scrape, "av1relay_allocations_created_total", ["transport": transport])
            #expect(created >= 5, "\(scrape)")
            // uclient closes its connections (now and then with a reset: an `error` close).
            let ended = ["client", "error"].map { Metrics.sum(scrape, "av1relay_stream_closes_total", ["reason": $0]) }.reduce(0, +)
            #expect(ended >= created, "\(scrape)")
            #expect(Metrics.sum(scrape, "av1relay_stream_closes_total", ["reason": "framing_error"]) == 0, "\(scrape)")
            guard tls else { return }
            // uclient first offers a TLS version the relay does not speak ("cannot connect ... protocol
            // version") and then connects with TLS 1.2: each of those is a failed handshake.
            let refused = Double(client.text.components(separatedBy: "tls_connect: cannot connect").count - 1)
            #expect(Metrics.sum(scrape, "av1relay_tls_handshakes_total", ["outcome": "completed"]) >= created, "\(scrape)")
            // Each of those the relay saw is counted; now and then one of uclient's attempts never gets
            // as far as the relay, so the relay's count may be lower, never higher.
            let failedBefore = Metrics.sum(scrape, "av1relay_tls_handshakes_total", ["outcome": "failed"])
            #expect(failedBefore >= 1 && failedBefore <= refused, "uclient reported \(refused): \(scrape)")
            let tlsFailedBefore = Metrics.sum(scrape, "av1relay_stream_closes_total", ["reason": "tls_failed"])
            #expect(tlsFailedBefore <= failedBefore, "\(scrape)")
            let plain = try TCPTestSocket(connectTo: TransportAddress(ip: .v4(0x7F00_0001), port: port))
            plain.send(Array("GET / HTTP/1.1\r\nHost: relay\r\n\r\n".utf8))
            // The relay answers with an alert (or nothing) and closes.
            var byte: UInt8 = 0
            var n = 1
            while n > 0 { n = recv(plain.fd, &byte, 1, 0) }
            #expect(n == 0, "the relay did not close a connection that spoke no TLS")
            let failed = eventually(seconds: 30) {
                scrape = (try? Admin.request("GET", metrics, token: reader.token).body) ?? ""
                return Metrics.sum(scrape, "av1relay_tls_handshakes_total", ["outcome": "failed"]) == failedBefore + 1
            }
            #expect(failed, "\(scrape)")
            #expect(Metrics.sum(scrape, "av1relay_stream_closes_total", ["reason": "tls_failed"]) == tlsFailedBefore + 1, "\(scrape)")
        }

        @Test func certificateReloadKeepsLiveSessions() throws {
            let dir = NSTemporaryDirectory() + "av1relay-reload-\(getpid())"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try Self.makeCertificate(dir, "old", cn: "old.relay.test")
            try Self.makeCertificate(dir, "new", cn: "new.relay.test")
            let fm = FileManager.default
            try fm.copyItem(atPath: "\(dir)/old-cert.pem", toPath: "\(dir)/cert.pem")
            try fm.copyItem(atPath: "\(dir)/old-key.pem", toPath: "\(dir)/key.pem")
            let relay = try Interop.relay(
                [
                    "--listen", "none", "--tcp-listen", "none", "--tls-listen", "127.0.0.1:0", "--tls-cert", "\(dir)/cert.pem",
                    "--tls-key", "\(dir)/key.pem", "--user", "demo:demo", "--allow-peer", "127.0.0.0/8", "--channel-range", "rfc5766",
                ] + RelayPortRanges.arguments(RelayPortRanges.streamInterop))
            defer { relay.stop() }
            let tlsPort = try Interop.port(relay, "tls")
            #expect(try Self.servedCN(tlsPort).contains("old.relay.test"))
            let (peer, peerPort) = try Interop.echoPeer()
            defer { peer.stop() }
            // Five seconds of traffic; the certificate changes in the middle of it.
            let client = try Interop.uclient(
                ["-t", "-S", "-c", "-u", "demo", "-w", "demo"], port: tlsPort, peerPort: peerPort, messages: 250, clients: 2)
            #expect(client.waitFor("tot_send_msgs=", seconds: 30))  // sessions are up and sending
            try fm.removeItem(atPath: "\(dir)/cert.pem")
            try fm.removeItem(atPath: "\(dir)/key.pem")
            try fm.copyItem(atPath: "\(dir)/new-cert.pem", toPath: "\(dir)/cert.pem")
            try fm.copyItem(atPath: "\(dir)/new-key.pem", toPath: "\(dir)/key.pem")
            relay.signal(SIGHUP)
            #expect(relay.waitFor("tls-cert=reloaded", seconds: 30))
            #expect(try Self.servedCN(tlsPort).contains("new.relay.test"))
            #expect(client.wait(seconds: 60) != nil)
            let summary = CoturnInteropTests.Summary(client.text)
            #expect(summary.sent == 500, "\(client.text.suffix(1500))")
            #expect(summary.mostlyReceived && summary.littleLost, "\(summary)")

            // A certificate replaced by garbage (issue 13's faults): SIGHUP refuses it, says why,
            // and the relay goes on serving the certificate it had.
            try "not a certificate\n".write(toFile: "\(dir)/cert.pem", atomically: true, encoding: .utf8)
            relay.signal(SIGHUP)
            #expect(relay.waitFor("configuration reload refused", seconds: 30), "\(relay.text)")
            let refusal = relay.text.split(separator: "\n").last { $0.contains("configuration reload refused") } ?? ""
            #expect(refusal.contains("tls-cert"), "\(refusal)")
            #expect(try Self.servedCN(tlsPort).contains("new.relay.test"))
        }
    }
}
