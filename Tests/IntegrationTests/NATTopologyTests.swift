import AV1Endpoint
import Foundation
import Glibc
import Sessions
import Testing

extension IntegrationSuites {
    /// A robot and its app behind two symmetric NATs, and behind a school firewall that drops UDP
    /// (issue 12): av1sim's robot and app as two processes, and Chromium, each on its own side of
    /// the topology, reach each other through the relay; the session records show the
    /// transports they really used.
    @Suite(
        "Behind NATs and firewalls, in network namespaces", .serialized,
        .enabled(if: NetworkNamespace.available, "the kernel refuses network namespaces here"))
    struct NATTopologyTests {
        final class Relay {
            let dir = NSTemporaryDirectory() + "av1relay-nat-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            let child: Child
            var log: String { "\(dir)/sessions.jsonl" }

            init(_ topology: NATTopology) throws {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                try StreamInteropTests.makeCertificate(dir, "relay", cn: "relay.test")
                let ip = NATTopology.relayIP
                child = try Interop.relay(
                    in: NetworkNamespace(existing: topology.pub),
                    [
                        "--listen", "\(ip):3478", "--tcp-listen", "\(ip):3478", "--tls-listen", "\(ip):443", "--tls-cert",
                        "\(dir)/relay-cert.pem", "--tls-key", "\(dir)/relay-key.pem", "--relay-address", ip, "--auth-secret", "nat-secret",
                        "--pairing", "on", "--session-log", "\(dir)/sessions.jsonl", "--session-idle", "5", "--session-interim", "2",
                        "--min-port", "40000", "--max-port", "40099",
                    ])
            }

            deinit {
                child.stop()
                try? FileManager.default.removeItem(atPath: dir)
            }

            /// The device's final record, once written.
            func final(_ device: String) -> SessionRecord? {
                let deadline = Date().addingTimeInterval(30)
                while Date() < deadline {
                    let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                    if let r = text.split(separator: "\n").compactMap({ try? JSONDecoder().decode(SessionRecord.self, from: Data($0.utf8)) }
                    )
                    .first(where: { $0.type == "final" && $0.deviceID == device }) {
                        return r
                    }
                    usleep(100_000)
                }
                return nil
            }

            /// The address and TLS options an av1sim end uses over `transport`.
            func relayArguments(_ transport: String) -> [String] {
                let port = transport == "tls" ? 443 : 3478
                return [
                    "--relay", "\(NATTopology.relayIP):\(port)", "--transport", transport, "--tls-ca", "\(dir)/relay-cert.pem",
                    "--tls-name", "relay.test", "--secret", "nat-secret",
                ]
            }
        }

        /// av1sim's robot behind one NAT and its app behind the other, as two processes.
        static func av1simCall(_ topology: NATTopology, _ relay: Relay, robot: String, app: String, device: String) throws -> SessionRecord?
        {
            let exchange = "\(relay.dir)/exchange-\(device)"
            try FileManager.default.createDirectory(atPath: exchange, withIntermediateDirectories: true)
            let common = ["--device", device, "--duration", "3", "--width", "320", "--height", "240", "--exchange", exchange]
            let (rp, ra) = topology.command(
                in: topology.robotSide, Binaries.av1sim,
                ["robot"] + relay.relayArguments(robot) + common + ["--json", "\(relay.dir)/robot-\(device).json"])
            let (ap, aa) = topology.command(
                in: topology.appSide, Binaries.av1sim,
                ["app"] + relay.relayArguments(app) + common + ["--json", "\(relay.dir)/app-\(device).json"])
            let robotEnd = try Child(rp, ra)
            let appEnd = try Child(ap, aa)
            #expect(robotEnd.wait(seconds: 60) == 0, "robot: \(robotEnd.text)")
            #expect(appEnd.wait(seconds: 60) == 0, "app: \(appEnd.text)")
            let report = FileManager.default.contents(atPath: "\(relay.dir)/app-\(device).json").flatMap {
                try? JSONDecoder().decode(EndpointReport.self, from: $0)
            }
            #expect((report?.videoReceived?.framesDecoded ?? 0) >= 22, "\(String(describing: report))")
            return relay.final(device)
        }

        /// Chromium (both PeerConnections) in namespace `side`, over `transport`.
        static func browserCall(_ topology: NATTopology, _ relay: Relay, side: String, transport: String, device: String) throws
            -> SessionRecord?
        {
            let (path, args) = topology.command(
                in: side, "/usr/bin/env",
                [
                    "python3", "\(BrowserCallTests.packageRoot)/scripts/browser-call.py", "--relay-host", NATTopology.relayIP,
                    "--relay-port", transport == "tls" ? "443" : "3478", "--transport", transport, "--tls-spki",
                    try BrowserCallTests.spki(of: "\(relay.dir)/relay-cert.pem"), "--secret", "nat-secret", "--device", device,
                    "--seconds", "3",
                ])
            let browser = try Child(path, args)
            #expect(browser.wait(seconds: 180) == 0, "\(browser.text)")
            return relay.final(device)
        }

        @Test func bothSidesBehindSymmetricNATs() throws {
            let topology = try NATTopology(blockUDPForApp: false)
            let relay = try Relay(topology)
            #expect(try topology.udpReachesRelay(from: topology.robotSide) && topology.udpReachesRelay(from: topology.appSide))
            let record = try Self.av1simCall(topology, relay, robot: "udp", app: "udp", device: "nat-sim")
            #expect(record?.transports == ["robot": "udp", "app": "udp"], "\(String(describing: record))")
            #expect((record?.directions["robot_to_app"]?["video"]?.packets ?? 0) > 0)
            let browser = try Self.browserCall(topology, relay, side: topology.robotSide, transport: "udp", device: "nat-browser")
            #expect(browser?.transports == ["robot": "udp", "app": "udp"], "\(String(describing: browser))")
            #expect(browser?.dtls.completed == true, "\(String(describing: browser))")
        }

        @Test func theAppsFirewallDropsUDPSoItComesOverTLSOn443() throws {
            let topology = try NATTopology(blockUDPForApp: true)
            let relay = try Relay(topology)
            // The firewall is real: the robot's side reaches the relay over UDP, the app's does not.
            #expect(try topology.udpReachesRelay(from: topology.robotSide))
            #expect(try !topology.udpReachesRelay(from: topology.appSide))
            let record = try Self.av1simCall(topology, relay, robot: "udp", app: "tls", device: "fw-sim")
            #expect(record?.transports == ["robot": "udp", "app": "tls"], "\(String(describing: record))")
            let browser = try Self.browserCall(topology, relay, side: topology.appSide, transport: "tls", device: "fw-browser")
            #expect(browser?.transports == ["robot": "tls", "app": "tls"], "\(String(describing: browser))")
            #expect(browser?.dtls.completed == true, "\(String(describing: browser))")
        }
    }
}
