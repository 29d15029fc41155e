import AV1Endpoint
import Foundation
import Glibc
import STUN
import Sessions
import TURN
import Testing

/// Three av1relay processes on 127.0.0.1, .2 and .3 (the same ports), one member list: the robot
/// starts at one relay, the app at another, and both end on the device's home (issue 9).
@Suite("A fleet on loopback", .serialized)
struct FleetWireTests {
    final class Fleet {
        let relays: [Child]
        let dir: String
        let port: UInt16
        let tlsPort: UInt16

        /// `members(i, port, tlsPort)` is relay i's member list; by default all three, the same
        /// list everywhere.
        init(relayCount: Int = 3, members: ((Int, UInt16, UInt16) -> [String])? = nil) throws {
            dir = NSTemporaryDirectory() + "av1relay-fleet-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try StreamInteropTests.makeCertificate(dir, "relay", cn: "relay.test")
            // The kernel's pick on 127.0.0.1, in the ephemeral range (the relay ports are below it);
            // the other loopback addresses have it free too.
            let port = try freeUDPPort()
            let tlsPort = try freeUDPPort()
            self.port = port
            self.tlsPort = tlsPort
            var started: [Child] = []
            for i in 1...relayCount {
                let list =
                    members?(i, port, tlsPort)
                    ?? (1...3).map { "r\($0)=127.0.0.\($0):\(port),tls=127.0.0.\($0):\(tlsPort),domain=relay.test" }
                started.append(
                    try Interop.relay(
                        [
                            "--listen", "127.0.0.\(i):\(port)", "--tcp-listen", "127.0.0.\(i):\(port)", "--tls-listen",
                            "127.0.0.\(i):\(tlsPort)", "--tls-cert", "\(dir)/relay-cert.pem", "--tls-key", "\(dir)/relay-key.pem",
                            "--relay-address", "127.0.0.\(i)", "--min-port", "32800", "--max-port", "32899", "--auth-secret",
                            "fleet-secret", "--pairing", "on", "--fleet-self", "r\(i)", "--session-log", "\(dir)/r\(i).jsonl",
                            "--session-idle", "60",
                        ] + list.flatMap { ["--fleet-member", $0] }))
            }
            relays = started
        }

        deinit {
            for r in relays { r.stop() }
            try? FileManager.default.removeItem(atPath: dir)
        }

        func records(_ i: Int) -> [SessionRecord] {
            let text = (try? String(contentsOfFile: "\(dir)/r\(i).jsonl", encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(SessionRecord.self, from: Data($0.utf8)) }
        }

        func address(_ i: Int, _ transport: String) -> String { "127.0.0.\(i):\(transport == "tls" ? tlsPort : port)" }
    }

    /// A device whose home, among r1–r3, is r3.
    static func deviceHomedOnR3() throws -> String {
        let members = (1...3).map {
            FleetMember(name: "r\($0)", address: TransportAddress(ip: .v4(0x7F00_0000 | UInt32($0)), port: 3478))
        }
        let view = FleetView(selfName: "r1", members: members)
        for i in 0..<200 where view.home(of: "fleet-\(i)")?.name == "r3" { return "fleet-\(i)" }
        throw TestError("no device homed on r3 in 200 tries")
    }

    static func pair(_ fleet: Fleet, transport: String, robotAt: Int, appAt: Int, device: String, extra: [String] = []) throws -> (
        Int32?, PairReport?, String
    ) {
        let json = "\(fleet.dir)/pair-\(transport).json"
        let p = try Child(
            Binaries.av1sim,
            [
                "pair", "--relay", fleet.address(robotAt, transport), "--app-relay", fleet.address(appAt, transport), "--transport",
                transport, "--secret", "fleet-secret", "--device", device, "--duration", "3", "--width", "320", "--height", "240",
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
}
