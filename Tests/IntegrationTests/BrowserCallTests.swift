import Foundation
import Glibc
import Sessions
import Testing

extension IntegrationSuites {
    /// A call from a real browser: headless Chromium (Debian's, driven by Selenium through
    /// scripts/browser-call.py) runs a robot and an app PeerConnection, relay-only through the av1relay
    /// binary with pairing on. Chromium negotiates DTLS 1.3 (RFC 9147): no ChangeCipherSpec on the
    /// wire, so the record's DTLS completion must come from what 1.3 leaves in the clear.
    ///
    /// DTLS 1.2 is not asked of the browser here: Chromium 156 has no switch left for it (libwebrtc's
    /// `WebRTC-ForceDtls13` field trial is gone from the binary, and `WebRTC-ForceDtls13/Disabled/`
    /// still negotiates 1.3). DTLS 1.2 calls are av1sim's (SessionRecordTests).
    @Suite("A browser call through the relay", .serialized)
    struct BrowserCallTests {
        /// What scripts/browser-call.py prints (the part the test reads).
        struct BrowserCall: Decodable {
            struct Side: Decodable {
                var connectionState: String?
                var tlsVersion: String?
                var dtlsState: String?
                var localCandidateType: String?
                var remoteCandidateType: String?
                /// How the local relay candidate reaches the relay: udp, tcp or tls.
                var relayProtocol: String?
                var audioPacketsReceived: Int?
                /// The kinds of the streams this side received packets of.
                var inboundKinds: [String]?
                /// Retransmission streams (RFC 4588) this side sent, each an SSRC of its own.
                var rtxStreamsSent: Int?
            }
            var browser: String
            var tlsVersion: String?
            var videoFramesDecoded: Int
            var connectMillis: Int
            var closingAt: Double
            var closedAt: Double
            var robot: Side
            var app: Side
        }

        /// The package root: this file is Tests/IntegrationTests/BrowserCallTests.swift in it.
        static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path

        /// A relay with pairing on, on UDP, TCP and TLS (its own certificate, which the browser is
        /// told to trust by its public key's hash), and browser-call.py against it over `transport`.
        final class Setup {
            let dir = NSTemporaryDirectory() + "av1relay-browser-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            let secret = "browser-secret"
            let device = "browser-\(getpid())"
            let log: String
            let relay: Child

            init() throws {
                log = "\(dir)/sessions.jsonl"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                try StreamInteropTests.makeCertificate(dir, "relay", cn: "relay.test")
                // Session idle far above the hang-up's expected delay: an end that comes from the
                // allocations' Refresh 0, not from the idle timer, shows within a few seconds.
                relay = try Interop.relay([
                    "--listen", "127.0.0.1:0", "--tcp-listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0", "--tls-cert",
                    "\(dir)/relay-cert.pem", "--tls-key", "\(dir)/relay-key.pem", "--auth-secret", secret, "--pairing", "on",
                    "--session-log", log, "--session-idle", "120", "--min-port", "32600", "--max-port", "32799",
                ])
            }

            deinit {
                relay.stop()
                try? FileManager.default.removeItem(atPath: dir)
            }

            func spki() throws -> String { try BrowserCallTests.spki(of: "\(dir)/relay-cert.pem") }

            /// browser-call.py over `transport`; its exit status and output.
            func browser(_ transport: String, _ extra: [String]) throws -> (Int32?, String) {
                let port = try Interop.port(relay, transport)
                let tls = transport == "tls" ? ["--tls-spki", try spki()] : []
                let browser = try Child(
                    "/usr/bin/env",
                    [
                        "python3", "\(BrowserCallTests.packageRoot)/scripts/browser-call.py", "--relay-port", "\(port)", "--transport",
                        transport, "--secret", secret, "--device", device, "--seconds", "4", "--json", "\(dir)/call.json",
                    ] + tls + extra)
                // Chromium's start, the call's 30 s connect deadline and 4 s of media, on a loaded machine.
                let status = browser.wait(seconds: 180)
                return (status, browser.text)
            }
        }

        /// The base64 SHA-256 of a certificate's public key, as Chromium's
        /// `--ignore-certificate-errors-spki-list` takes it.
        static func spki(of certificate: String) throws -> String {
            let p = try Child(
                "/bin/sh",
                [
                    "-c",
                    "openssl x509 -in \"$0\" -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64",
                    certificate,
                ])
            guard p.wait(seconds: 30) == 0 else { throw TestError("openssl: \(p.text)") }
            return p.text.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// Runs the browser call against a fresh relay; returns what the browser saw and the device's
        /// final session record, with the seconds from the hang-up to that record's end.
        static func call(transport: String = "udp", extraArguments: [String] = []) throws -> (
            BrowserCall, SessionRecord, raw: String, afterHangUp: Double
        ) {
            let setup = try Setup()
            let (dir, log, device, relay) = (setup.dir, setup.log, setup.device, setup.relay)
            let (status, text) = try setup.browser(transport, extraArguments)
            try #require(status == 0, "browser-call.py exited \(status.map(String.init) ?? "late, killed"): \(text)")
            let result = try JSONDecoder().decode(BrowserCall.self, from: Data(contentsOf: URL(fileURLWithPath: "\(dir)/call.json")))

            // The final record comes at the relay's next tick after both Refresh 0s; well before the
            // 120 s idle timeout.
            let deadline = Date().addingTimeInterval(75)
            var lines: [Substring] = []
            var final: SessionRecord?
            while final == nil && Date() < deadline {
                let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                lines = text.split(separator: "\n")
                final = lines.compactMap { try? JSONDecoder().decode(SessionRecord.self, from: Data($0.utf8)) }
                    .first { $0.type == "final" && $0.deviceID == device }
                if final == nil { usleep(100_000) }
            }
            let record = try #require(final, "no final session record within 75 s of the hang-up: \(lines)\n\(relay.text)")
            let end = try Date(record.end, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
            return (result, record, lines.joined(separator: "\n"), end.timeIntervalSince1970 - result.closingAt)
        }

        /// Over UDP, TCP (`turn:…?transport=tcp`) and TLS (`turns:`, the certificate checked by
        /// Chromium against the key it was given): the call connects relay/relay on that transport,
        /// and what getStats() says each side received is what the relay recorded each way.
        @Test(arguments: ["udp", "tcp", "tls"])
        func chromiumCallOverDTLS13IsRecordedAsCompleted(transport: String) throws {
            let (call, record, raw, afterHangUp) = try Self.call(transport: transport)

            // The browser: relay-only on both sides, DTLS 1.3, media decoded.
            for (name, side) in [("robot", call.robot), ("app", call.app)] {
                #expect(side.localCandidateType == "relay" && side.remoteCandidateType == "relay", "\(name): \(side)")
                #expect(side.relayProtocol == transport, "\(name): \(side)")
                #expect(side.dtlsState == "connected", "\(name): \(side)")
                #expect((side.audioPacketsReceived ?? 0) > 0, "\(name) received no audio: \(side)")
            }
            #expect(
                call.tlsVersion == "FEFC",
                """
                \(call.browser) negotiated DTLS \(call.tlsVersion ?? "of two versions") (robot \(call.robot.tlsVersion ?? "-"), \
                app \(call.app.tlsVersion ?? "-")), not 1.3 (FEFC): this call does not prove the DTLS 1.3 path
                """)
            #expect(call.videoFramesDecoded > 0)

            // The relay: one call, both directions, DTLS seen and complete, ended by the hang-up.
            #expect(record.dtls.handshakeSeen, "\(raw)")
            #expect(record.dtls.completed, "DTLS 1.3 call not recorded as completed: \(raw)")
            #expect((record.dtls.handshakeMillis ?? -1) >= 0)
            #expect(record.transports == ["robot": transport, "app": transport], "\(raw)")
            // The kinds each side's getStats() received packets of are the kinds the relay recorded
            // in the direction towards it. Chromium's video retransmission stream (RFC 4588, an SSRC
            // of its own carrying repairs and bandwidth-probe padding) has no RTP clock of its own to
            // infer a kind from: the relay counts it as "unknown", at most one per RTX stream sent.
            func recorded(_ direction: String) -> [String] {
                (record.directions[direction] ?? [:]).filter { $0.value.packets > 0 && $0.key != "unknown" }.map(\.key).sorted()
            }
            #expect(call.app.inboundKinds == recorded("robot_to_app"), "\(call.app) vs \(raw)")
            #expect(call.robot.inboundKinds == recorded("app_to_robot"), "\(call.robot) vs \(raw)")
            #expect(call.app.inboundKinds == ["audio", "video"] && call.robot.inboundKinds == ["audio"])
            for (direction, sender) in [("robot_to_app", call.robot), ("app_to_robot", call.app)] {
                let unknown = record.directions[direction]?["unknown"]?.streams ?? 0
                #expect(unknown <= (sender.rtxStreamsSent ?? 0), "\(direction): \(unknown) unknown streams, \(sender) \(raw)")
            }
            #expect((record.directions["robot_to_app"]?["video"]?.packets ?? 0) > 0, "\(raw)")
            #expect((record.directions["robot_to_app"]?["audio"]?.packets ?? 0) > 0, "\(raw)")
            #expect((record.directions["app_to_robot"]?["audio"]?.packets ?? 0) > 0, "\(raw)")
            #expect(["robot-left", "app-left"].contains(record.endReason ?? ""), "\(raw)")
            // After the hang-up began, and long before the idle timeout could have ended it.
            #expect(afterHangUp >= 0 && afterHangUp < 60, "session ended \(afterHangUp) s after the hang-up: \(raw)")

            // Privacy holds for a browser's call too: no address, username or secret in a record.
            for forbidden in ["127.0.0.1", "robot:browser-", "app:browser-", "browser-secret"] {
                #expect(!raw.contains(forbidden), "\(forbidden) appears in a session record")
            }
        }

        /// An app credential of another device: the relay's pairing keeps the two apart, so the
        /// browser's call never connects, over UDP or TLS, and no session is recorded.
        @Test(arguments: ["udp", "tls"])
        func unpairedCredentialsDoNotConnect(transport: String) throws {
            let setup = try Setup()
            let (status, text) = try setup.browser(transport, ["--app-device", "someone-else", "--connect-timeout", "15"])
            #expect(status == 1, "\(text)")
            #expect(text.contains("failed") || text.contains("not connected"), "\(text)")
            let records = (try? String(contentsOfFile: setup.log, encoding: .utf8)) ?? ""
            #expect(!records.contains(setup.device), "\(records)")
        }

        /// SPED (DTLS in STUN, draft-hancke-webrtc-sped; part of WARP), a field trial in Chromium 156:
        /// the DTLS client's ClientHello rides in the ICE Binding requests (attribute 0xC070), usually
        /// never in a DTLS record of its own. The relay reads hellos there too, so that side's SRTP
        /// counts as completion and the call is recorded completed.
        @Test func chromiumCallWithDTLSInSTUNIsRecordedAsCompleted() throws {
            let (call, record, raw, _) = try Self.call(extraArguments: ["--field-trials", "WebRTC-IceHandshakeDtls/Enabled/"])
            #expect(call.tlsVersion == "FEFC" && call.videoFramesDecoded > 0)
            #expect(record.dtls.handshakeSeen, "\(raw)")
            #expect((record.directions["app_to_robot"]?["audio"]?.packets ?? 0) > 0, "\(raw)")
            #expect(record.dtls.completed, "\(raw)")
        }
    }
}
