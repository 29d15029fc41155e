import AV1Endpoint
import Foundation
import Glibc
import STUN
import Sessions
import TURN
import TestSupport
import Testing

extension IntegrationSuites {
    /// Three av1relay processes on 127.0.0.1, .2 and .3 (the same ports), one member list: the robot
    /// starts at one relay, the app at another, and both end on the device's home (issue 9).
    @Suite("A fleet on loopback", .serialized)
    struct FleetWireTests {
        final class Fleet {
            let relays: [Child]
            let dir: String
            let port: UInt16
            let tlsPort: UInt16
            /// Relay i listens on `prefix` + i: 127.0.0.i, or addresses of a network namespace's.
            let prefix: String
            let namespace: NetworkNamespace?

            /// `members(i, port, tlsPort)` is relay i's member list; by default all three, the same
            /// list everywhere. With `namespace`, the relays run in it, on `prefix` + i.
            init(
                relayCount: Int = 3, extra: [String] = [], prefix: String = "127.0.0.", namespace: NetworkNamespace? = nil,
                members: ((Int, UInt16, UInt16) -> [String])? = nil
            ) throws {
                self.prefix = prefix
                self.namespace = namespace
                dir = NSTemporaryDirectory() + "av1relay-fleet-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                try StreamInteropTests.makeCertificate(dir, "relay", cn: "relay.test")
                // The kernel's pick on 127.0.0.1, in the ephemeral range (the relay ports are below it);
                // the other loopback addresses have it free too. Between the pick and the relays'
                // binds another process may take it (a TCP client's ephemeral port): then again,
                // with new ports, up to three times.
                var attempt = 0
                while true {
                    attempt += 1
                    let port = try freeUDPPort()
                    let tlsPort = try freeUDPPort()
                    var started: [Child] = []
                    do {
                        for i in 1...relayCount {
                            let list =
                                members?(i, port, tlsPort)
                                ?? (1...3).map { Self.member($0, port, tlsPort, prefix: prefix) }
                            // Members in a file of their own, so a test can change them and reload.
                            try Self.writeMembers(list, to: "\(dir)/r\(i).conf")
                            started.append(
                                try Interop.relay(
                                    in: namespace,
                                    [
                                        "--config", "\(dir)/r\(i).conf", "--listen", "\(prefix)\(i):\(port)", "--tcp-listen",
                                        "\(prefix)\(i):\(port)",
                                        "--tls-listen", "\(prefix)\(i):\(tlsPort)", "--tls-cert", "\(dir)/relay-cert.pem", "--tls-key",
                                        "\(dir)/relay-key.pem", "--relay-address", "\(prefix)\(i)", "--min-port", "32800", "--max-port",
                                        "32899", "--auth-secret", "fleet-secret", "--pairing", "on", "--fleet-self", "r\(i)",
                                        "--session-log", "\(dir)/r\(i).jsonl", "--session-idle", "60", "--ready-file", "\(dir)/r\(i).ready",
                                        "--log-level", "debug",
                                    ] + extra))
                        }
                    } catch let e as TestError where e.description.contains("Address already in use") && attempt < 3 {
                        for r in started { r.stop() }
                        continue
                    }
                    self.port = port
                    self.tlsPort = tlsPort
                    relays = started
                    break
                }
            }

            static func member(_ i: Int, _ port: UInt16, _ tlsPort: UInt16, prefix: String = "127.0.0.") -> String {
                "r\(i)=\(prefix)\(i):\(port),tls=\(prefix)\(i):\(tlsPort),domain=relay.test"
            }

            static func writeMembers(_ members: [String], to path: String) throws {
                try members.map { "fleet-member = \($0)\n" }.joined().write(toFile: path, atomically: true, encoding: .utf8)
            }

            /// Relay `i` now knows `members` (1-based), after a reload.
            func setMembers(of i: Int, _ members: [Int]) throws {
                try Self.writeMembers(members.map { Self.member($0, port, tlsPort, prefix: prefix) }, to: "\(dir)/r\(i).conf")
                let before = relays[i - 1].text.components(separatedBy: "configuration reloaded").count
                relays[i - 1].signal(SIGHUP)
                let deadline = Date().addingTimeInterval(20)
                while relays[i - 1].text.components(separatedBy: "configuration reloaded").count == before && Date() < deadline {
                    usleep(20_000)
                }
            }

            deinit {
                for r in relays { r.stop() }
                try? FileManager.default.removeItem(atPath: dir)
            }

            func records(_ i: Int) -> [SessionRecord] {
                let text = (try? String(contentsOfFile: "\(dir)/r\(i).jsonl", encoding: .utf8)) ?? ""
                return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(SessionRecord.self, from: Data($0.utf8)) }
            }

            func address(_ i: Int, _ transport: String) -> String { "\(prefix)\(i):\(transport == "tls" ? tlsPort : port)" }
        }

        /// The home of `device` among relays `among` (1-based).
        static func home(of device: String, among: [Int]) -> Int? {
            let members = among.map { FleetMember(name: "r\($0)", address: TransportAddress(ip: .v4(0x7F00_0000 | UInt32($0)), port: 1)) }
            return FleetView(selfName: "r\(among[0])", members: members).home(of: device).flatMap { Int($0.name.dropFirst()) }
        }

        /// A device whose home, among r1–r3, is r3.
        static func deviceHomedOnR3() throws -> String {
            for i in 0..<200 where home(of: "fleet-\(i)", among: [1, 2, 3]) == 3 { return "fleet-\(i)" }
            throw TestError("no device homed on r3 in 200 tries")
        }

        /// `av1sim pair` started (not waited for).
        static func startPair(
            _ fleet: Fleet, transport: String, robotAt: Int, appAt: Int, device: String, seconds: Int = 3, json: String
        ) throws -> Child {
            try Child(
                Binaries.av1sim,
                [
                    "pair", "--relay", fleet.address(robotAt, transport), "--app-relay", fleet.address(appAt, transport), "--transport",
                    transport, "--tls-ca", "\(fleet.dir)/relay-cert.pem", "--secret", "fleet-secret", "--device", device, "--duration",
                    "\(seconds)", "--width", "320", "--height",
                    "240", "--json", json,
                ])
        }

        static func report(_ json: String) -> PairReport? {
            FileManager.default.contents(atPath: json).flatMap { try? JSONDecoder().decode(PairReport.self, from: $0) }
        }

        static func pair(_ fleet: Fleet, transport: String, robotAt: Int, appAt: Int, device: String, extra: [String] = []) throws -> (
            Int32?, PairReport?, String
        ) {
            let json = "\(fleet.dir)/pair-\(transport).json"
            let p = try Child(
                Binaries.av1sim,
                [
                    "pair", "--relay", fleet.address(robotAt, transport), "--app-relay", fleet.address(appAt, transport), "--transport",
                    transport, "--tls-ca", "\(fleet.dir)/relay-cert.pem", "--secret", "fleet-secret", "--device", device, "--duration", "3",
                    "--width", "320", "--height", "240",
                    "--json", json,
                ] + extra)
            let status = p.wait(seconds: 60)
            let report = FileManager.default.contents(atPath: json).flatMap { try? JSONDecoder().decode(PairReport.self, from: $0) }
            return (status, report, p.text)
        }

        @Test(arguments: ["udp", "tcp", "tls"])
        func partnersStartingAtTwoRelaysMeetOnTheHome(transport: String) throws {
            let fleet = try Fleet()
            let device = try Self.deviceHomedOnR3()
            let (status, report, text) = try Self.pair(fleet, transport: transport, robotAt: 1, appAt: 2, device: device)
            #expect(status == 0, "\(text)")
            let r = try #require(report, "\(text)")
            let home = fleet.address(3, transport)
            #expect(r.robot.relay == home && r.app.relay == home, "robot at \(r.robot.relay ?? "?"), app at \(r.app.relay ?? "?")")
            #expect(r.robot.redirects == [home] && r.app.redirects == [home])
            #expect(r.videoDelivered >= 0.95, "\(r.summary)")
            // The session record is written once, by the home relay.
            let deadline = Date().addingTimeInterval(20)
            while !fleet.records(3).contains(where: { $0.type == "final" }) && Date() < deadline { usleep(50_000) }
            #expect(fleet.records(3).filter { $0.type == "final" }.count == 1)
            #expect(fleet.records(3).allSatisfy { $0.deviceID == device })
            #expect(fleet.records(1).isEmpty && fleet.records(2).isEmpty)
        }

        /// Chromium follows 300 Try Alternate on Allocate (libwebrtc's TURN port does, but never to
        /// a loopback address: so these relays run in a network namespace of their own, on
        /// 198.18.0.1–3, RFC 2544's benchmarking range): a browser call whose robot starts at r1 and
        /// app at r2 ends with both sides' relay candidates on the home, r3, the only relay that
        /// records it. libwebrtc presents r1's nonce to r3 and gives up on 438: the fleet secret
        /// gives every member the same nonce key.
        @Test(.enabled(if: NetworkNamespace.available, "the kernel refuses network namespaces here"), arguments: ["udp", "tcp", "tls"])
        func chromiumFollowsTryAlternateToTheHome(transport: String) throws {
            let namespace = try NetworkNamespace(addresses: (1...3).map { "198.18.0.\($0)" })
            let fleet = try Fleet(
                extra: ["--allow-peer", "198.18.0.0/24", "--fleet-secret", "a-fleet-secret-of-the-test"], prefix: "198.18.0.",
                namespace: namespace)
            let device = try Self.deviceHomedOnR3()
            let (path, arguments) = namespace.command(
                "/usr/bin/env",
                [
                    "python3", "\(BrowserCallTests.packageRoot)/scripts/browser-call.py", "--relay-host", "198.18.0.1", "--relay-port",
                    "\(transport == "tls" ? fleet.tlsPort : fleet.port)", "--app-relay-host", "198.18.0.2", "--transport", transport,
                    "--tls-spki", try BrowserCallTests.spki(of: "\(fleet.dir)/relay-cert.pem"), "--secret", "fleet-secret", "--device",
                    device, "--seconds", "3", "--json", "\(fleet.dir)/browser.json",
                ])
            let browser = try Child(path, arguments)
            #expect(browser.wait(seconds: 180) == 0, "\(browser.text)")
            let call =
                try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(fleet.dir)/browser.json")))
                as? [String: Any]
            for side in ["robot", "app"] {
                let stats = call?[side] as? [String: Any]
                #expect(stats?["relayAddress"] as? String == "198.18.0.3", "\(side): \(String(describing: stats))")
            }
            let deadline = Date().addingTimeInterval(30)
            while !fleet.records(3).contains(where: { $0.type == "final" }) && Date() < deadline { usleep(50_000) }
            let finals = fleet.records(3).filter { $0.type == "final" }
            #expect(finals.count == 1 && finals.first?.deviceID == device, "\(fleet.records(3))")
            #expect(finals.first?.transports == ["robot": transport, "app": transport], "\(finals)")
            #expect((finals.first?.directions["robot_to_app"]?["video"]?.packets ?? 0) > 0, "\(finals)")
            #expect(fleet.records(1).isEmpty && fleet.records(2).isEmpty)
        }

        @Test func twoRelaysThatDisagreeEndWithTheClientStopping() throws {
            // Relay 1 knows r1 and r2; relay 2 knows r2 and, under another name, relay 1. For this
            // device each believes the other is its home.
            func view(_ me: String, _ members: [(String, UInt32)]) -> FleetView {
                FleetView(
                    selfName: me, members: members.map { FleetMember(name: $0.0, address: TransportAddress(ip: .v4($0.1), port: 1)) })
            }
            let one = view("r1", [("r1", 0x7F00_0001), ("r2", 0x7F00_0002)])
            let two = view("r2", [("r2", 0x7F00_0002), ("elsewhere", 0x7F00_0001)])
            let device = try #require(
                (0..<1000).map { "split-\($0)" }.first { one.home(of: $0)?.name == "r2" && two.home(of: $0)?.name == "elsewhere" })
            let fleet = try Fleet(relayCount: 2) { i, port, tls in
                i == 1
                    ? ["r1=127.0.0.1:\(port),tls=127.0.0.1:\(tls)", "r2=127.0.0.2:\(port),tls=127.0.0.2:\(tls)"]
                    : ["r2=127.0.0.2:\(port),tls=127.0.0.2:\(tls)", "elsewhere=127.0.0.1:\(port),tls=127.0.0.1:\(tls)"]
            }
            let started = Date()
            let (status, report, text) = try Self.pair(fleet, transport: "udp", robotAt: 1, appAt: 1, device: device)
            #expect(status != 0 && status != nil, "\(text)")
            #expect(report?.robot.error?.contains("relays disagree") == true, "\(report?.robot.error ?? text)")
            #expect(Date().timeIntervalSince(started) < 50)  // it stopped; it did not bounce until killed
        }

        @Test func aDrainingRelayFinishesItsCallAndHandsTheNextToTheNewHome() throws {
            let fleet = try Fleet()
            // A device at home on r1, whose home without r1 is another relay.
            let device = try #require((0..<500).map { "drain-\($0)" }.first { Self.home(of: $0, among: [1, 2, 3]) == 1 })
            let newHome = try #require(Self.home(of: device, among: [2, 3]))
            let first = "\(fleet.dir)/first.json"
            let call = try Self.startPair(fleet, transport: "udp", robotAt: 1, appAt: 1, device: device, seconds: 8, json: first)
            defer { call.stop() }
            // Both ends allocated on r1: the call is live.
            let live = Date().addingTimeInterval(30)
            while fleet.relays[0].text.components(separatedBy: "allocation created").count < 3 && Date() < live { usleep(20_000) }
            #expect(FileManager.default.fileExists(atPath: "\(fleet.dir)/r1.ready"))
            fleet.relays[0].signal(SIGUSR1)
            #expect(fleet.relays[0].waitFor("draining", seconds: 20))
            #expect(!FileManager.default.fileExists(atPath: "\(fleet.dir)/r1.ready"))  // not ready any more
            // The others learn r1 is gone (as DNS would tell them); a new call for the device, started
            // at r2, lands on its new home while the first goes on at r1.
            try fleet.setMembers(of: 2, [2, 3])
            try fleet.setMembers(of: 3, [2, 3])
            let second = "\(fleet.dir)/second.json"
            let next = try Self.startPair(fleet, transport: "udp", robotAt: 2, appAt: 2, device: device, seconds: 2, json: second)
            #expect(next.wait(seconds: 60) == 0, "\(next.text)")
            let moved = try #require(Self.report(second))
            #expect(moved.robot.relay == fleet.address(newHome, "udp") && moved.app.relay == fleet.address(newHome, "udp"))
            // The first call ran to its end on the draining relay, with its media whole.
            #expect(call.wait(seconds: 60) == 0, "\(call.text)")
            let r = try #require(Self.report(first))
            #expect(r.robot.relay == fleet.address(1, "udp") && r.ok && r.videoDelivered >= 0.95, "\(r.summary)")
            // Then r1 writes the session's final record and exits 0 by itself.
            #expect(fleet.relays[0].wait(seconds: 60) == 0, "\(fleet.relays[0].text)")
            #expect(fleet.relays[0].text.contains("drained: every call has ended"))
            let finals = fleet.records(1).filter { $0.type == "final" }
            #expect(finals.count == 1 && finals.first?.deviceID == device && finals.first?.endReason != "shutdown")
        }

        static let fleetSecret = "a fleet secret, 16 bytes or more"

        @Test(arguments: ["udp", "tcp"])
        func partnersThatDoNotFollowRedirectsConnectAcrossTwoRelays(transport: String) throws {
            let fleet = try Fleet(extra: ["--fleet-secret", Self.fleetSecret])
            let device = try Self.deviceHomedOnR3()
            let (status, report, text) = try Self.pair(
                fleet, transport: transport, robotAt: 1, appAt: 2, device: device, extra: ["--ignore-redirects"])
            #expect(status == 0, "\(text)")
            let r = try #require(report, "\(text)")
            // Each end stayed where it started, and media crossed the two relays.
            #expect(r.robot.relay == fleet.address(1, transport) && r.app.relay == fleet.address(2, transport))
            #expect(r.ok && r.videoDelivered >= 0.95 && r.appAudioDelivered >= 0.95, "\(r.summary)")
            // Both relays sent their legs' reports to the device's home, r3, which writes the one record.
            let deadline = Date().addingTimeInterval(30)
            while !fleet.records(3).contains(where: { $0.type == "final" }) && Date() < deadline { usleep(50_000) }
            let finals = fleet.records(3).filter { $0.type == "final" }
            #expect(finals.count == 1, "\(fleet.relays[2].text)")
            let record = try #require(finals.first)
            #expect(record.deviceID == device && record.transports == ["robot": transport, "app": transport])
            #expect(
                (record.directions["robot_to_app"]?["video"]?.packets ?? 0) > 0
                    && (record.directions["app_to_robot"]?["audio"]?.packets ?? 0) > 0)
            #expect(["robot-left", "app-left"].contains(record.endReason ?? ""), "\(record.endReason ?? "none")")
            #expect(fleet.records(1).isEmpty && fleet.records(2).isEmpty)
        }

        @Test func anotherDeviceCannotReachThePartnerAndForgedOrReplayedQuestionsAreRefused() throws {
            let fleet = try Fleet(relayCount: 2, extra: ["--fleet-secret", Self.fleetSecret]) { _, port, tls in
                (1...2).map { "r\($0)=127.0.0.\($0):\(port),tls=127.0.0.\($0):\(tls)" }
            }
            let r1 = TransportAddress(ip: .v4(0x7F00_0001), port: fleet.port)
            let r2 = TransportAddress(ip: .v4(0x7F00_0002), port: fleet.port)
            // The robot of device d on r2 (a client that came back after a redirect, or whose home it is).
            func allocated(_ identity: String, at relay: TransportAddress) throws -> (TestClient, RelayConnection, TransportAddress) {
                var client = TestClient.rest(secret: "fleet-secret", identity: identity)
                let connection = try RelayConnection(to: relay, transport: .udp)
                guard let challenge = try PairingWireTests.transact(connection, client.allocate()) else { throw TestError("no 401") }
                _ = client.learn(from: challenge)
                var answer = try PairingWireTests.transact(connection, client.allocate())
                if answer?.code == 300 { answer = try PairingWireTests.transact(connection, client.allocate()) }
                guard let relayed = try answer?.xorAddress(.xorRelayedAddress) else {
                    throw TestError("not allocated: \(String(describing: answer))")
                }
                return (client, connection, relayed)
            }
            let (_, _, robotRelayed) = try allocated("robot:d-cross", at: r2)
            // The app of another device, on r1, asks for the robot: r1 asks r2, which says no.
            let (other, otherConnection, _) = try allocated("app:d-other", at: r1)
            #expect(try PairingWireTests.transact(otherConnection, other.channelBind(0x4000, robotRelayed))?.code == 403)
            #expect(try PairingWireTests.transact(otherConnection, other.createPermission([robotRelayed]))?.code == 403)
            // The robot's own app, on r1: r2 says yes.
            let (app, appConnection, _) = try allocated("app:d-cross", at: r1)
            #expect(try PairingWireTests.transact(appConnection, app.channelBind(0x4000, robotRelayed))?.messageClass == .successResponse)

            // Questions sent to r2 straight: forged (wrong key), stale (an old clock), and a good one twice.
            func question(key: String, time: Int64, id: TransactionID = .random()) -> [UInt8] {
                var b = STUNMessageBuilder(method: .fleetCheck, class: .request, transactionID: id)
                b.append(.xorPeerAddress, xorAddress: robotRelayed)
                b.append(.fleetPartner, [1] + Array("d-cross".utf8))
                b.append(.fleetTime, uint32: UInt32(time))
                b.appendMessageIntegritySHA256(key: Array(key.utf8))
                b.appendFingerprint()
                return b.bytes
            }
            let asker = try UDPTestSocket(timeout: 1)
            let now = Int64(Date().timeIntervalSince1970)
            asker.send(question(key: "not the fleet secret at all", time: now), to: r2)
            #expect(asker.receive() == nil)
            asker.send(question(key: Self.fleetSecret, time: now - 120), to: r2)
            #expect(asker.receive() == nil)
            let good = question(key: Self.fleetSecret, time: now)
            asker.send(good, to: r2)
            let answer = try #require(asker.receive().flatMap { try? STUNMessage(parsing: $0.bytes) })
            #expect(answer.messageClass == .successResponse && answer.value(.fleetAnswer)?.first == 1)
            #expect(answer.verifyIntegrity(key: Array(Self.fleetSecret.utf8)) == true)
            asker.send(good, to: r2)  // a replay
            #expect(asker.receive() == nil)
        }
    }
}
