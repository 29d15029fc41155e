import Foundation
import Glibc
import TestSupport
import Testing

extension IntegrationSuites {
    /// The status pages through the binary: refused without a token, signed into with one, and
    /// loaded in headless Chromium with JavaScript off (scripts/status-page.py) during an
    /// `av1sim pair`. The screenshots stay in `.build/test-artefacts/status/`.
    @Suite("Status pages in a real browser")
    struct StatusPageTests {
        static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path

        @Test func devicePageShowsALiveCallInChromium() throws {
            let dir = NSTemporaryDirectory() + "av1relay-status-\(getpid())"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let artefacts = Self.packageRoot + "/.build/test-artefacts/status"
            try? FileManager.default.removeItem(atPath: artefacts)
            let reader = try Admin.token("customer-admin-tool", "read")
            let secret = "status-secret"
            let device = "robot-status"
            let relay = try Interop.relay(
                [
                    "--listen", "127.0.0.1:0", "--tcp-listen", "none", "--auth-secret", secret, "--pairing", "on",
                    "--session-interim", "2", "--session-idle", "2", "--state-directory", dir, "--admin-listen", "127.0.0.1:0",
                    "--admin-token", reader.config,
                ] + RelayPortRanges.arguments(RelayPortRanges.adminAPI))
            defer { relay.stop() }
            let port = try Interop.port(relay, "udp")
            let base = "http://127.0.0.1:\(try Admin.port(relay))"
            var pages: [String] = []

            // No token, an unknown token, a wrong one in the form, a post from another site: refused.
            for path in ["/status", "/status/devices/\(device)"] {
                let anonymous = try Admin.request("GET", base + path)
                #expect(anonymous.status == 401 && anonymous.body.contains("name=\"token\""), "\(path): \(anonymous.body)")
                #expect(anonymous.headers.lowercased().contains("content-type: text/html"), "\(anonymous.headers)")
                #expect(!anonymous.body.contains("<table"), "\(path) showed data without a token")
                let forged = try Admin.request(
                    "GET", base + path, curl: ["-H", "Cookie: av1relay_status=\(String(repeating: "0", count: 64))"])
                #expect(forged.status == 401, "\(path) with a forged cookie: \(forged.status)")
            }
            let wrong = try Admin.request("POST", base + "/status/login", curl: ["--data-urlencode", "token=not-a-token"])
            #expect(wrong.status == 401 && wrong.body.contains("not a token this relay knows"), "\(wrong.body)")
            let crossSite = try Admin.request(
                "POST", base + "/status/login",
                curl: ["--data-urlencode", "token=\(reader.token)", "-H", "Origin: http://elsewhere.example"])
            #expect(crossSite.status == 403 && !crossSite.headers.lowercased().contains("set-cookie"), "\(crossSite.headers)")
            let signIn = try Admin.request("POST", base + "/status/login", curl: ["--data-urlencode", "token=\(reader.token)"])
            let cookie = signIn.headers.split(separator: "\r\n").first { $0.lowercased().hasPrefix("set-cookie:") } ?? ""
            #expect(signIn.status == 303 && signIn.headers.lowercased().contains("location: /status"), "\(signIn.headers)")
            for flag in ["HttpOnly", "SameSite=Strict", "Path=/status", "av1relay_status=\(reader.token)"] {
                #expect(cookie.contains(flag), "\(cookie)")
            }
            let withCookie = ["-H", "Cookie: av1relay_status=\(reader.token)"]
            #expect(try Admin.request("GET", base + "/status", curl: withCookie).status == 200)
            #expect(try Admin.request("GET", base + "/status/devices/no%20such", token: reader.token).status == 400)

            // A call, and the browser on the device's page while it runs.
            let sim = try Child(
                Binaries.av1sim,
                [
                    "pair", "--relay", "127.0.0.1:\(port)", "--secret", secret, "--device", device, "--duration", "40", "--width", "320",
                    "--height", "240",
                ] + Interop.av1simMinimumDelivered)
            let browser = try Child(
                "/usr/bin/env",
                [
                    "python3", Self.packageRoot + "/scripts/status-page.py", "--base", base, "--token", reader.token, "--device", device,
                    "--out", artefacts, "--timeout", "30",
                ])
            let status = browser.wait(seconds: 180)
            #expect(status == 0, "status-page.py exited \(status.map(String.init) ?? "late, killed"): \(browser.text)")
            let line = browser.text.split(separator: "\n").last { $0.hasPrefix("{") } ?? "{}"
            let seen = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
            #expect(seen["refused_without_token"] as? Bool == true, "\(seen)")
            #expect(seen["signed_in"] as? Bool == true, "\(seen)")
            #expect(seen["in_call"] as? Bool == true, "\(seen)")
            #expect(["good", "fair", "poor"].contains(seen["grade"] as? String ?? ""), "\(seen)")
            #expect((seen["chart_points"] as? Int ?? 0) > 0, "no signal chart: \(seen)")
            #expect(seen["overview_lists_device"] as? Bool == true, "\(seen)")
            #expect((seen["phone_overflow_px"] as? Int ?? 1) <= 0, "wider than a phone: \(seen)")
            for shot in ["status-device.png", "status.png", "status-device-phone.png"] {
                let size = (try? FileManager.default.attributesOfItem(atPath: "\(artefacts)/\(shot)")[.size] as? Int) ?? 0
                #expect(size > 1000, "\(shot): \(size) bytes")
            }
            for source in ["status-login.html", "status-device.html", "status.html"] {
                pages.append((try? String(contentsOfFile: "\(artefacts)/\(source)", encoding: .utf8)) ?? "")
            }
            pages.append(try Admin.request("GET", base + "/status", curl: withCookie).body)
            #expect(sim.wait(seconds: 90) == 0, "\(sim.text)")

            // After the call: its final record is among the device's last sessions.
            var after = ""
            let listed = eventually(seconds: 30) {
                after = (try? Admin.request("GET", base + "/status/devices/\(device)", token: reader.token).body) ?? ""
                return after.contains("robot-left") || after.contains("app-left")
            }
            #expect(listed, "\(after)")
            pages.append(after)
            let scrape = try Admin.request("GET", base + "/metrics", token: reader.token).body

            // Nothing names an address, a relay port, a username, the secret or the token; the
            // metrics name no device either (pages do: they are about one).
            let forbidden = ["127.0.0.1", ":\(port)", "robot:\(device)", "app:\(device)", secret, reader.token]
            for (i, page) in pages.enumerated() {
                #expect(!page.isEmpty)
                for word in forbidden { #expect(!page.contains(word), "page \(i) holds \(word)") }
                #expect(!page.contains("<script"), "page \(i) has a script")
            }
            for word in forbidden + [device] { #expect(!scrape.contains(word), "the scrape holds \(word)") }
            for word in [secret, reader.token, "robot:\(device)", "app:\(device)"] {
                #expect(!relay.text.contains(word), "the log holds \(word)")
            }
            relay.signal(SIGTERM)
            #expect(relay.wait(seconds: 30) == 0, "\(relay.text)")
        }
    }
}
