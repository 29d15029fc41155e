import AV1Endpoint
import Foundation
import Glibc
import STUN
import TestSupport
import Testing

extension IntegrationSuites {
    /// av1sim's robot and app through the av1relay binary: real DTLS-SRTP, Opus and VP8, over UDP,
    /// TCP and TLS to the relay.
    @Suite("av1sim through av1relay", .serialized)
    struct AV1SimTests {
        /// A relay on UDP, TCP and TLS (a fresh self-signed certificate), with REST credentials.
        final class Relay {
            let child: Child
            let udp: UInt16
            let tcp: UInt16
            let tls: UInt16
            let dir: String

            init() throws {
                dir = NSTemporaryDirectory() + "av1sim-tests-\(getpid())"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                try StreamInteropTests.makeCertificate(dir, "relay", cn: "relay.test")
                child = try Interop.relay(
                    [
                        "--listen", "127.0.0.1:0", "--tcp-listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:0",
                        "--tls-cert", "\(dir)/relay-cert.pem", "--tls-key", "\(dir)/relay-key.pem", "--auth-secret", "sim-secret",
                        "--allow-peer", "127.0.0.0/8",
                    ] + RelayPortRanges.arguments(RelayPortRanges.av1sim))
                udp = try Interop.port(child, "udp")
                tcp = try Interop.port(child, "tcp")
                tls = try Interop.port(child, "tls")
            }

            deinit {
                child.stop()
                try? FileManager.default.removeItem(atPath: dir)
            }
        }

        static func pair(_ relay: Relay, transport: String, extra: [String] = [], seconds: Int = 3) throws -> (Int32?, PairReport?, String)
        {
            let json = "\(relay.dir)/pair-\(transport)-\(UInt32.random(in: 0...UInt32.max)).json"
            let port = transport == "tls" ? relay.tls : transport == "tcp" ? relay.tcp : relay.udp
            let p = try Child(
                Binaries.av1sim,
                [
                    "pair", "--relay", "127.0.0.1:\(port)", "--transport", transport, "--tls-ca", "\(relay.dir)/relay-cert.pem", "--secret",
                    "sim-secret", "--device", "robot-7",
                    "--duration", "\(seconds)", "--width", "320", "--height", "240", "--json", json,
                ] + Interop.av1simMinimumDelivered + extra)
            let status = p.wait(seconds: Double(seconds) + 30)
            let report = FileManager.default.contents(atPath: json).flatMap { try? JSONDecoder().decode(PairReport.self, from: $0) }
            return (status, report, p.text)
        }

        /// av1sim checks a TLS relay's certificate: chained to the CA it is given (or the system's
        /// store) and for the relay's address or the name it is told; it refuses anything else, and
        /// `--tls-insecure` skips the check.
        @Test func relayCertificateIsChecked() throws {
            let dir = NSTemporaryDirectory() + "av1sim-tls-ca-\(getpid())"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
            let script = """
                set -e
                cd "$0"
                openssl req -x509 \(ec) -days 2 -subj /CN=AV1-Test-CA -keyout ca-key.pem -out ca.pem
                openssl req -x509 \(ec) -days 2 -subj /CN=Other-CA -keyout other-key.pem -out other.pem
                openssl req \(ec) -subj /CN=relay.test -keyout relay-key.pem -out relay.csr
                printf 'subjectAltName=DNS:relay.test,IP:127.0.0.1\\n' > san.ext
                openssl x509 -req -in relay.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile san.ext -out relay-cert.pem
                """
            let openssl = try Child("/bin/sh", ["-c", script, dir])
            try #require(openssl.wait(seconds: 60) == 0, "openssl: \(openssl.text)")
            let relay = try Interop.relay(
                [
                    "--listen", "127.0.0.1:0", "--tcp-listen", "none", "--tls-listen", "127.0.0.1:0", "--tls-cert", "\(dir)/relay-cert.pem",
                    "--tls-key", "\(dir)/relay-key.pem", "--auth-secret", "sim-secret", "--allow-peer", "127.0.0.0/8",
                ] + RelayPortRanges.arguments(RelayPortRanges.av1sim))
            defer { relay.stop() }
            let port = try Interop.port(relay, "tls")
            func pair(_ tls: [String]) throws -> (Int32?, PairReport?, String) {
                let json = "\(dir)/pair-\(UInt32.random(in: 0...UInt32.max)).json"
                let p = try Child(
                    Binaries.av1sim,
                    [
                        "pair", "--relay", "127.0.0.1:\(port)", "--transport", "tls", "--secret", "sim-secret", "--device", "robot-ca",
                        "--duration", "2", "--width", "320", "--height", "240", "--json", json,
                    ] + tls + Interop.av1simMinimumDelivered)
                let status = p.wait(seconds: 60)
                return (
                    status, FileManager.default.contents(atPath: json).flatMap { try? JSONDecoder().decode(PairReport.self, from: $0) },
                    p.text
                )
            }
            // The right CA, for the address (its IP SAN) or its DNS name.
            for tls in [["--tls-ca", "\(dir)/ca.pem"], ["--tls-ca", "\(dir)/ca.pem", "--tls-name", "relay.test"]] {
                let (status, report, text) = try pair(tls)
                #expect(status == 0, "\(tls): \(text)")
                #expect(report?.robot.tlsVerified == true && report?.app.tlsVerified == true, "\(tls): \(text)")
            }
            // Another CA, another name, the system's store (which does not hold the test CA): refused.
            for (tls, says) in [
                (["--tls-ca", "\(dir)/other.pem"], "unable to get local issuer certificate"),
                (["--tls-ca", "\(dir)/ca.pem", "--tls-name", "other.test"], "hostname mismatch"),
                ([], "unable to get local issuer certificate"),
            ] {
                let (status, _, text) = try pair(tls)
                #expect(status != 0, "\(tls) was accepted: \(text)")
                #expect(text.contains("not trusted") && text.contains(says), "\(tls): \(text)")
            }
            let (status, report, text) = try pair(["--tls-insecure"])
            #expect(status == 0, "\(text)")
            #expect(report?.robot.tlsVerified == false, "\(text)")
        }

        /// RFC 8489 §9.2.4's bid-down check: a challenge whose nonce says (security feature bit 0)
        /// that the server offers PASSWORD-ALGORITHMS, but that carries none — an attacker on the path
        /// stripped it to force MD5 — is refused by av1sim's TURN client, not answered with MD5.
        @Test func aChallengeStrippedOfItsPasswordAlgorithmsIsRefused() throws {
            let server = """
                import socket, struct, sys
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
                print(s.getsockname()[1], flush=True)
                def attr(t, v): return struct.pack("!HH", t, len(v)) + v + b"\\0" * (-len(v) % 4)
                s.settimeout(20)
                while True:
                    data, peer = s.recvfrom(2048)
                    body = attr(9, struct.pack("!HBB", 0, 4, 1) + b"Unauthorized") + attr(0x14, b"av1relay") \\
                        + attr(0x15, b"obMatJos2wAAA0123456789.abcdef")
                    s.sendto(struct.pack("!HHI", 0x0113, len(body), 0x2112A442) + data[8:20] + body, peer)
                """
            let fake = try Child("/usr/bin/python3", ["-c", server])
            defer { fake.stop() }
            try #require(fake.waitFor("\n", seconds: 20), "\(fake.text)")
            let port = try #require(Int(fake.text.split(separator: "\n").first ?? ""), "\(fake.text)")
            let sim = try Child(
                Binaries.av1sim, ["pair", "--relay", "127.0.0.1:\(port)", "--secret", "s", "--device", "bid-down", "--duration", "1"])
            #expect(sim.wait(seconds: 60) == 1, "\(sim.text)")
            #expect(sim.text.contains("promises PASSWORD-ALGORITHMS"), "\(sim.text)")
        }

        @Test(arguments: ["udp", "tcp", "tls"])
        func callOverEveryTransport(transport: String) throws {
            let relay = try Relay()
            let (status, report, text) = try Self.pair(relay, transport: transport)
            #expect(status == 0, "\(text)")
            let r = try #require(report, "\(text)")
            for end in [r.robot, r.app] {
                #expect(end.iceConnected && end.dtlsCompleted && end.peerFingerprintVerified, "\(end.role)")
                #expect(end.srtpProfile == "AEAD_AES_128_GCM")
                #expect(end.srtpUnprotectFailures == 0)
                // The plaintext canary went through, decrypted, and was in no byte the relay forwarded.
                #expect(end.canariesReceived >= 1 && !end.canaryVisibleOnWire, "\(end.role)")
                // The relay lists SHA-256 (RFC 8489 §9.2): the client takes it; over TLS the certificate was checked.
                #expect(end.passwordAlgorithm == "SHA-256", "\(end.role)")
                #expect(end.tlsVerified == (transport == "tls" ? true : nil), "\(end.role)")
            }
            // Wide bounds (issue 8): a correct relay on a loaded machine may make the last frames
            // late and the RTT long; a broken one delivers nothing. Tight figures belong in a benchmark
            // on a quiet machine, not here.
            #expect(r.videoDelivered >= 0.5 && r.robotAudioDelivered >= 0.5 && r.appAudioDelivered >= 0.5, "\(r.summary)")
            #expect(r.robot.telemetrySent >= 1)
            #expect(r.robot.rtcpReceived >= 1 && r.app.rtcpReceived >= 1)
            #expect((r.app.rttMillis.p50 ?? 1000) < 500, "\(r.summary)")  // loopback: about 1 ms when idle
            #expect(text.hasPrefix("OK \(transport)"))
        }

        @Test func fivePercentLossIsMeasuredAsAboutFivePercent() throws {
            let relay = try Relay()
            let (status, report, text) = try Self.pair(relay, transport: "udp", extra: ["--loss", "0.05"], seconds: 6)
            #expect(status == 0, "\(text)")
            let r = try #require(report, "\(text)")
            // Everything the receivers got on the three streams, pooled: ~700 packets.
            let streams = [r.app.videoReceived, r.app.audioReceived, r.robot.audioReceived].compactMap { $0 }
            let lost = streams.reduce(0) { $0 + $1.lost }
            let expected = streams.reduce(0) { $0 + $1.expected }
            let loss = 100 * Double(lost) / Double(max(expected, 1))
            #expect(expected > 300)
            // About 35 of 700 dropped on purpose; below 1 % the impairment did nothing, above 20 %
            // something else lost packets (5 % ± 1 % would be a figure for a quiet machine).
            #expect(loss > 1 && loss < 20, "measured \(loss) % over \(expected) packets")
            #expect(r.robot.impairedDrops + r.app.impairedDrops > 0)
        }

        @Test func addedDelayAndJitterShowAtTheReceiver() throws {
            let relay = try Relay()
            let (status, report, text) = try Self.pair(relay, transport: "udp", extra: ["--delay", "40", "--jitter", "20"])
            #expect(status == 0, "\(text)")
            let audio = try #require(report?.app.audioReceived)
            let p50 = try #require(audio.delayMillis.p50)
            #expect(p50 >= 40 && p50 < 500, "one-way delay p50 \(p50) ms")  // 40 + 0-20 ms added; a loaded machine adds more
            #expect(audio.jitterMillis > 2, "jitter \(audio.jitterMillis) ms")  // 0-20 ms of random extra delay
        }

        @Test func robotAndAppAsSeparateProcesses() throws {
            let relay = try Relay()
            let exchange = "\(relay.dir)/exchange"
            try FileManager.default.createDirectory(atPath: exchange, withIntermediateDirectories: true)
            let common = [
                "--relay", "127.0.0.1:\(relay.udp)", "--secret", "sim-secret", "--device", "robot-9", "--duration", "3",
                "--width", "320", "--height", "240", "--exchange", exchange,
            ]
            let robot = try Child(Binaries.av1sim, ["robot"] + common + ["--json", "\(relay.dir)/robot.json"])
            let app = try Child(Binaries.av1sim, ["app"] + common + ["--json", "\(relay.dir)/app.json"])
            #expect(robot.wait(seconds: 40) == 0, "\(robot.text)")
            #expect(app.wait(seconds: 40) == 0, "\(app.text)")
            let report = try #require(
                FileManager.default.contents(atPath: "\(relay.dir)/app.json").flatMap {
                    try? JSONDecoder().decode(EndpointReport.self, from: $0)
                })
            #expect((report.videoReceived?.framesDecoded ?? 0) >= 22)  // 45 sent in 3 s at 15 fps: half of them
        }

        @Test func aesCmProfileAndLoadOfSeveralPairs() throws {
            let relay = try Relay()
            let (status, report, text) = try Self.pair(relay, transport: "udp", extra: ["--srtp", "aes-cm"])
            #expect(status == 0, "\(text)")
            #expect(report?.app.srtpProfile == "AES_CM_128_HMAC_SHA1_80" && report?.robot.srtpProfile == "AES_CM_128_HMAC_SHA1_80")
            let load = try Child(
                Binaries.av1sim,
                [
                    "load", "--pairs", "3", "--relay", "127.0.0.1:\(relay.udp)", "--secret", "sim-secret", "--duration", "3",
                    "--width", "160", "--height", "120", "--json", "\(relay.dir)/load.json",
                ] + Interop.av1simMinimumDelivered)
            #expect(load.wait(seconds: 40) == 0, "\(load.text)")
            #expect(load.text.hasPrefix("OK load udp: 3/3 pairs ok"), "\(load.text)")
        }

        @Test func sameCallThroughCoturn() throws {
            let dir = NSTemporaryDirectory() + "av1sim-coturn-\(getpid())"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            // coturn as our own process on loopback ports, stopped by its PID, once it answers.
            let (coturn, port) = try Interop.turnserver(secret: "sim-secret", dir: dir)
            defer { coturn.stop() }
            let p = try Child(
                Binaries.av1sim,
                [
                    "pair", "--relay", "127.0.0.1:\(port)", "--secret", "sim-secret", "--duration", "3", "--width", "320", "--height",
                    "240",
                    "--json", "\(dir)/pair.json",
                ] + Interop.av1simMinimumDelivered)
            #expect(p.wait(seconds: 40) == 0, "\(p.text)")
            #expect(p.text.hasPrefix("OK udp"), "\(p.text)")
        }

        @Test func badArgumentsExitWith2() throws {
            for args in [
                ["pair"], ["pair", "--relay", "nowhere"], ["dance"], ["pair", "--relay", "127.0.0.1:1", "--transport", "sctp"],
                ["pair", "--relay", "127.0.0.1:1", "--user", "u:p", "--loss", "2"],
            ] {
                let p = try Child(Binaries.av1sim, args)
                #expect(p.wait(seconds: 30) == 2, "\(args): \(p.text)")
            }
        }

        @Test func linkTelemetryRoundTrips() {
            for profile in SignalProfile.allCases {
                let t = profile.sample(at: 1_800_000_007)
                #expect(LinkTelemetry(encoded: t.encoded) == t, "\(profile)")
                #expect(t.encoded.count == 20)
            }
            #expect(LinkTelemetry.attribute.rawValue == 0xC0A1 && !LinkTelemetry.attribute.isComprehensionRequired)
        }
    }
}
