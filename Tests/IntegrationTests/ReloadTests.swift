import AV1Endpoint
import Foundation
import Glibc
import STUN
import TURN
import TestSupport
import Testing

extension IntegrationSuites {
    /// SIGHUP reloads the configuration without dropping a call (issue 8): REST secrets rotate while
    /// an av1sim call goes on through the av1relay binary.
    @Suite("Reload under a live call", .serialized)
    struct ReloadTests {
        @Test func rotatingTheRESTSecretsKeepsTheLiveCallAndSwitchesNewCredentials() throws {
            let dir = NSTemporaryDirectory() + "av1relay-reload-\(getpid())"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let conf = "\(dir)/relay.conf"
            func write(secrets: [String]) throws {
                let lines =
                    ["listen = 127.0.0.1:0", "tcp-listen = none", "pairing = on", "min-port = 32300", "max-port = 32399"]
                    + secrets.map { "auth-secret = \($0)" }
                try (lines.joined(separator: "\n") + "\n").write(toFile: conf, atomically: true, encoding: .utf8)
            }
            try write(secrets: ["old-secret"])
            let relay = try Interop.relay(["--config", conf, "--log-level", "debug"])
            defer { relay.stop() }
            let port = try Interop.port(relay, "udp")
            let address = TransportAddress(ip: .v4(0x7F00_0001), port: port)

            // A call signed with the old secret, long enough to refresh (every 5 s) after the reload.
            let json = "\(dir)/pair.json"
            let call = try Child(
                Binaries.av1sim,
                [
                    "pair", "--relay", "127.0.0.1:\(port)", "--transport", "udp", "--secret", "old-secret", "--device", "reload-1",
                    "--duration", "9", "--width", "320", "--height", "240", "--json", json,
                ])
            defer { call.stop() }
            // Both sides allocated: the call is live.
            let deadline = Date().addingTimeInterval(30)
            while relay.text.components(separatedBy: "allocation created").count < 3 && Date() < deadline { usleep(20_000) }
            #expect(relay.text.components(separatedBy: "allocation created").count >= 3, "\(relay.text)")

            // Rotate: the old secret goes, a new one comes.
            try write(secrets: ["new-secret"])
            relay.signal(SIGHUP)
            #expect(relay.waitFor("configuration reloaded", seconds: 20), "\(relay.text)")
            #expect(relay.text.contains("1 → 1 secrets, 0 kept"))

            func allocate(_ secret: String) throws -> STUNMessage? {
                var client = TestClient.rest(secret: secret, identity: "robot:other")
                let connection = try RelayConnection(to: address, transport: .udp)
                let challenge = try #require(try PairingWireTests.transact(connection, client.allocate()))
                client.learn(from: challenge)
                return try PairingWireTests.transact(connection, client.allocate())
            }
            #expect(try allocate("new-secret")?.messageClass == .successResponse)
            #expect(try allocate("old-secret")?.code == 401)

            // The call signed with the removed secret went on to its end, refreshes included.
            #expect(call.wait(seconds: 60) == 0, "\(call.text)")
            let report = try #require(
                FileManager.default.contents(atPath: json).flatMap { try? JSONDecoder().decode(PairReport.self, from: $0) })
            #expect(report.ok && report.videoDelivered >= 0.95, "\(report.summary)")
            #expect(report.robot.telemetrySent >= 2)  // at least one Refresh after the reload
            let refusedRefreshes = relay.text.split(separator: "\n").filter {
                $0.contains("request refused") && $0.contains("method=refresh")
            }
            #expect(refusedRefreshes.isEmpty, "\(refusedRefreshes)")
        }
    }
}
