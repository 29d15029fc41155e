import AdminAPI
import Foundation
import Glibc
import Logging
import RelayServer
import STUN
import SessionStore
import Sessions
import TestSupport
import Testing

/// One HTTP exchange with the admin API, through curl.
struct HTTPAnswer {
    var status: Int
    var body: String
    var headers: String

    var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
    }

    var errorCode: String? { (json?["error"] as? [String: Any])?["code"] as? String }
}

enum Admin {
    static func request(_ method: String, _ url: String, token: String? = nil, curl options: [String] = []) throws -> HTTPAnswer {
        let dir = NSTemporaryDirectory() + "av1relay-curl-\(UUID().uuidString)"
        defer {
            try? FileManager.default.removeItem(atPath: dir + ".body")
            try? FileManager.default.removeItem(atPath: dir + ".headers")
        }
        var args = ["-s", "-X", method, "-o", dir + ".body", "-D", dir + ".headers", "-w", "%{http_code}", "--max-time", "30", url]
        if let token { args += ["-H", "Authorization: Bearer \(token)"] }
        args = options + args
        let curl = try Child("/usr/bin/curl", args)
        guard curl.wait(seconds: 40) == 0, let status = Int(curl.text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw TestError("curl \(method) \(url) failed: \(curl.text)")
        }
        return HTTPAnswer(
            status: status, body: (try? String(contentsOfFile: dir + ".body", encoding: .utf8)) ?? "",
            headers: (try? String(contentsOfFile: dir + ".headers", encoding: .utf8)) ?? "")
    }

    /// A token made by `av1relay admin-token NAME SCOPE [DEVICES]`: the token and its configuration value.
    static func token(_ name: String, _ scope: String, devices: String? = nil) throws -> (token: String, config: String) {
        let p = try Child(Binaries.av1relay, ["admin-token", name, scope] + (devices.map { [$0] } ?? []))
        guard p.wait(seconds: 30) == 0 else { throw TestError("admin-token failed: \(p.text)") }
        let lines = p.text.split(separator: "\n")
        guard let t = lines.first(where: { $0.hasPrefix("token: ") }), let c = lines.first(where: { $0.hasPrefix("admin-token = ") }) else {
            throw TestError("admin-token printed: \(p.text)")
        }
        return (String(t.dropFirst("token: ".count)), String(c.dropFirst("admin-token = ".count)))
    }

    /// The admin API's port, from the relay's "admin API serving" line.
    static func port(_ relay: Child) throws -> Int {
        guard relay.waitFor("admin API serving", seconds: 30),
            let line = relay.text.split(separator: "\n").first(where: { $0.contains("admin API serving") }),
            let field = line.split(separator: " ").first(where: { $0.hasPrefix("port=") }), let port = Int(field.dropFirst(5))
        else { throw TestError("no admin API port in: \(relay.text)") }
        return port
    }
}

/// Reading a Prometheus scrape in tests.
enum Metrics {
    /// The sum of the samples of `name` whose labels include `labels` (in any order).
    static func sum(_ scrape: String, _ name: String, _ labels: [String: String] = [:]) -> Double {
        var total = 0.0
        for line in scrape.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            let parts = line.split(separator: " ")
            guard parts.count >= 2, let value = Double(parts[1]), String(parts[0].prefix { $0 != "{" }) == name else { continue }
            let inside = parts[0].drop { $0 != "{" }.dropFirst().dropLast()
            var found: [String: String] = [:]
            for pair in inside.split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                if kv.count == 2 { found[String(kv[0])] = String(kv[1]).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
            }
            if labels.allSatisfy({ found[$0.key] == $0.value }) { total += value }
        }
        return total
    }

    /// `promtool check metrics` (Debian's prometheus package) passes on the scrape: format, names, units.
    static func promtoolAccepts(_ scrape: String, _ dir: String) throws {
        let file = dir + "/scrape-\(UUID().uuidString).txt"
        try scrape.write(toFile: file, atomically: true, encoding: .utf8)
        let promtool = try Child("/bin/sh", ["-c", "exec promtool check metrics < \"$0\"", file])
        #expect(promtool.wait(seconds: 60) == 0, "promtool check metrics: \(promtool.text)\n\(scrape)")
    }
}

@Suite("Admin API: the routes and the OpenAPI document agree")
struct AdminAPIDocumentTests {
    @Test func everyRouteIsDocumentedAndEveryDocumentedOperationIsARoute() throws {
        let routes = try Self.routes()
        #expect(routes.count >= 11)

        // The document as the API serves it (the same string), read by its own schema.
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/AdminAPI/OpenAPIDocument.swift")
        let source = try String(contentsOf: url, encoding: .utf8)
        let start = try #require(source.range(of: "##\"\"\"\n")), end = try #require(source.range(of: "\"\"\"##"))
        let json = String(source[start.upperBound..<end.lowerBound])
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(doc["openapi"] as? String == "3.1.0")
        let paths = try #require(doc["paths"] as? [String: [String: Any]])
        var documented: Set<String> = []
        for (path, operations) in paths {
            for (method, operation) in operations {
                documented.insert("\(method.uppercased()) \(path)")
                let responses = (operation as? [String: Any])?["responses"] as? [String: Any] ?? [:]
                let route = routes.first { "\($0.method)" == method.uppercased() && $0.path == path }
                // A route that needs a token documents 401; one a token may be refused documents
                // 403: an admin route, a relay-wide one (refused to tokens limited to devices), one
                // about a device or session (refused outside a limited token's devices); an audited
                // route documents 503 (the trail cannot be written).
                if let route, let scope = route.scope {
                    #expect(responses["401"] != nil, "\(method) \(path)")
                    let refusable = scope == .admin || route.relayWide || path.contains("{deviceId}") || path.contains("{sessionId}")
                    #expect(refusable == (responses["403"] != nil), "\(method) \(path)")
                    #expect(!route.audited || responses["503"] != nil, "\(method) \(path)")
                }
            }
        }
        #expect(Set(routes.map(\.description)) == documented)
    }

    /// The routes an admin API registers, from an in-process relay that is stopped again.
    static func routes() throws -> [AdminAPI.Route] {
        var c = RelayConfiguration()
        c.listen = [TransportAddress("127.0.0.1:0")!]
        c.tcpListen = []
        c.sessionLog = nil
        c.sessionStore = nil
        c.statsInterval = 0
        // A range no other test binds (TestSupport.RelayPortRanges lists the integration suites').
        c.minPort = 31050
        c.maxPort = 31099
        let logger = Logger(label: "t") { _ in SwiftLogNoOpLogHandler() }
        let server = try RelayServer(configuration: c, logger: logger)
        defer { server.stop() }
        let configuration = c
        return AdminAPI.routes(relay: RelayService(server: server, logger: logger) { configuration })
    }
}

extension IntegrationSuites {
    /// The admin API of the av1relay binary, with a real call through the relay, and schemathesis
    /// against the live API from its own document.
    @Suite("Admin API through the binary", .serialized)
    struct AdminWireTests {
        /// `admin-tls-cert`/`admin-tls-key`: the API speaks HTTPS only, with that certificate; bad
        /// TLS settings stop the relay at start with a message that names the key.
        @Test func httpsWithItsOwnCertificate() throws {
            let dir = NSTemporaryDirectory() + "av1relay-admin-tls-\(getpid())"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let openssl = try Child(
                "/usr/bin/openssl",
                [
                    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=admin.relay.test", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", "\(dir)/key.pem", "-out",
                    "\(dir)/cert.pem",
                ])
            try #require(openssl.wait(seconds: 30) == 0, "openssl: \(openssl.text)")
            let reader = try Admin.token("support", "read")
            let relay = try Interop.relay(
                [
                    "--listen", "127.0.0.1:0", "--tcp-listen", "none", "--auth-secret", "admin-secret", "--session-store", "none",
                    // Without a store the audit trail is a file in the state directory.
                    "--state-directory", dir, "--admin-listen", "127.0.0.1:0", "--admin-token", reader.config, "--admin-tls-cert",
                    "\(dir)/cert.pem",
                    "--admin-tls-key", "\(dir)/key.pem",
                ] + RelayPortRanges.arguments(RelayPortRanges.adminAPI))
            defer { relay.stop() }
            let port = try Admin.port(relay)
            #expect(relay.text.contains("scheme=https"), "\(relay.text)")
            let verified = ["--cacert", "\(dir)/cert.pem"]
            #expect(try Admin.request("GET", "https://127.0.0.1:\(port)/healthz", curl: verified).status == 200)
            let device = try Admin.request("GET", "https://127.0.0.1:\(port)/v1/devices/robot-tls", token: reader.token, curl: verified)
            #expect(device.status == 200 && device.json?["in_call"] as? Bool == false, "\(device.body)")
            let audited = try AuditLog(path: "\(dir)/audit.jsonl").auditEntries(.all)
            #expect(audited.map(\.device) == ["robot-tls"] && audited.map(\.actor) == ["support"], "\(audited)")
            // Plain HTTP gets no answer from a TLS listener.
            #expect(throws: TestError.self) { try Admin.request("GET", "http://127.0.0.1:\(port)/healthz") }
            relay.signal(SIGTERM)
            #expect(relay.wait(seconds: 30) == 0, "\(relay.text)")

            for (args, status, says) in [
                (["--admin-tls-cert", "\(dir)/cert.pem"], Int32(2), "admin-tls-cert and admin-tls-key go together"),
                (["--admin-tls-cert", "\(dir)/none.pem", "--admin-tls-key", "\(dir)/key.pem"], 1, "admin-tls-cert"),
                (["--admin-tls-cert", "\(dir)/cert.pem", "--admin-tls-key", "\(dir)/cert.pem"], 1, "admin-tls-key"),
            ] {
                let bad = try Child(
                    Binaries.av1relay,
                    ["--listen", "127.0.0.1:0", "--tcp-listen", "none", "--session-store", "none", "--admin-listen", "127.0.0.1:0"] + args)
                #expect(bad.wait(seconds: 30) == status, "\(args): \(bad.text)")
                #expect(bad.text.contains(says), "\(args): \(bad.text)")
            }
        }

        /// A real Prometheus server (Debian's) scrapes the relay with a read token during an
        /// `av1sim pair`, and its HTTP API answers the live session count and the relayed packet
        /// rate; the example alert rules pass `promtool check rules`, and every metric the rules and
        /// the Grafana dashboard name is one the relay exports.
        @Test func prometheusScrapesALiveCall() throws {
            let dir = NSTemporaryDirectory() + "av1relay-prometheus-\(getpid())"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let reader = try Admin.token("prometheus", "read")
            let relay = try Interop.relay(
                [
                    "--listen", "127.0.0.1:0", "--tcp-listen", "none", "--auth-secret", "metrics-secret", "--pairing", "on",
                    "--session-store", "none", "--admin-listen", "127.0.0.1:0", "--admin-token", reader.config,
                ] + RelayPortRanges.arguments(RelayPortRanges.adminAPI))
            defer { relay.stop() }
            let adminPort = try Admin.port(relay)
            let webPort = try #require(RelayPortRanges.freeTCPPort(in: RelayPortRanges.prometheusServers))
            let config = """
                global:
                  scrape_interval: 1s
                  evaluation_interval: 1s
                scrape_configs:
                  - job_name: av1relay
                    authorization:
                      credentials: \(reader.token)
                    static_configs:
                      - targets: ['127.0.0.1:\(adminPort)']
                """
            try config.write(toFile: "\(dir)/prometheus.yml", atomically: true, encoding: .utf8)
            let prometheus = try Child(
                "/usr/bin/prometheus",
                [
                    "--config.file=\(dir)/prometheus.yml", "--storage.tsdb.path=\(dir)/data", "--web.listen-address=127.0.0.1:\(webPort)",
                ])
            defer { prometheus.stop() }
            let api = "http://127.0.0.1:\(webPort)"
            try #require(eventually(seconds: 60) { (try? Admin.request("GET", api + "/-/ready"))?.status == 200 }, "\(prometheus.text)")

            /// The first sample of an instant query, as a number.
            func query(_ expression: String) -> Double? {
                let encoded = expression.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
                guard let answer = try? Admin.request("GET", api + "/api/v1/query?query=" + encoded),
                    let data = answer.json?["data"] as? [String: Any], let result = data["result"] as? [[String: Any]],
                    let value = result.first?["value"] as? [Any], let text = value.last as? String
                else { return nil }
                return Double(text)
            }
            let sim = try Child(
                Binaries.av1sim,
                [
                    "pair", "--relay", "127.0.0.1:\(try Interop.port(relay, "udp"))", "--secret", "metrics-secret", "--device",
                    "robot-metrics", "--duration", "10", "--width", "320", "--height", "240",
                ] + Interop.av1simMinimumDelivered)
            var live: Double?
            var rate: Double?
            let seen = eventually(seconds: 60) {
                live = query("max_over_time(av1relay_sessions_live[1m])")
                rate = query("sum(rate(av1relay_packets_relayed_total[1m]))")
                return (live ?? 0) >= 1 && (rate ?? 0) > 0
            }
            #expect(seen, "live sessions \(String(describing: live)), packet rate \(String(describing: rate)): \(prometheus.text)")
            #expect(query("up{job=\"av1relay\"}") == 1)
            #expect(sim.wait(seconds: 60) == 0, "\(sim.text)")
            prometheus.signal(SIGTERM)
            #expect(prometheus.wait(seconds: 60) == 0, "\(prometheus.text)")

            // The deploy files: rules that promtool accepts, over metrics that exist.
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                .path
            let rules = try Child("/usr/bin/promtool", ["check", "rules", root + "/deploy/prometheus/alerts.yml"])
            #expect(rules.wait(seconds: 60) == 0, "\(rules.text)")
            let scrape = try Admin.request("GET", "http://127.0.0.1:\(adminPort)/metrics", token: reader.token).body
            // Every family's name; a histogram's series are its name with _bucket, _sum and _count.
            let exported = Set(
                scrape.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.flatMap { line -> [String] in
                    let parts = line.split(separator: " ").map(String.init)
                    return parts[3] == "histogram" ? ["", "_bucket", "_sum", "_count"].map { parts[2] + $0 } : [parts[2]]
                })
            for file in ["/deploy/prometheus/alerts.yml", "/deploy/grafana/av1relay.json"] {
                let text = try String(contentsOfFile: root + file, encoding: .utf8)
                let named = Set(text.matches(of: /av1relay_[a-z_]+/).map { String($0.output) })
                #expect(!named.isEmpty && named.isSubset(of: exported), "\(file) names \(named.subtracting(exported)), which no scrape has")
            }
            let dashboard = try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: root + "/deploy/grafana/av1relay.json")))
            #expect(((dashboard as? [String: Any])?["panels"] as? [Any])?.isEmpty == false)
            relay.signal(SIGTERM)
            #expect(relay.wait(seconds: 30) == 0, "\(relay.text)")
        }

        @Test func statusSessionsDataSubjectRightsDrainAndSchema() throws {
            let dir = NSTemporaryDirectory() + "av1relay-admin-\(getpid())"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let admin = try Admin.token("ops", "admin")
            let reader = try Admin.token("support", "read")
            let relay = try Interop.relay(
                [
                    "--listen", "127.0.0.1:0", "--tcp-listen", "none", "--auth-secret", "admin-secret", "--pairing", "on",
                    "--session-interim", "2", "--session-idle", "2", "--state-directory", dir, "--session-log", "\(dir)/sessions.jsonl",
                    "--admin-listen", "127.0.0.1:0", "--admin-token", admin.config, "--admin-token", reader.config,
                ] + RelayPortRanges.arguments(RelayPortRanges.adminAPI))
            defer { relay.stop() }
            let port = try Interop.port(relay, "udp")
            let base = "http://127.0.0.1:\(try Admin.port(relay))"
            var bodies: [String] = []
            func call(_ method: String, _ path: String, _ token: String? = nil) throws -> HTTPAnswer {
                let answer = try Admin.request(method, base + path, token: token)
                bodies.append(answer.body)
                return answer
            }

            // Open routes; then no token → 401, a read token on admin routes → 403.
            #expect(try call("GET", "/healthz").status == 200)
            #expect(try call("GET", "/readyz").json?["ready"] as? Bool == true)
            #expect(try call("GET", "/openapi.json").json?["openapi"] as? String == "3.1.0")
            let anonymous = try call("GET", "/v1/devices/robot-api")
            #expect(anonymous.status == 401 && anonymous.errorCode == "unauthorized")
            #expect(anonymous.headers.lowercased().contains("www-authenticate: bearer"))
            #expect(try call("GET", "/v1/devices/robot-api", "not-a-token").status == 401)
            for (method, path) in [
                ("GET", "/v1/devices/robot-api/export"), ("DELETE", "/v1/devices/robot-api/records"), ("POST", "/v1/drain"),
                ("POST", "/v1/reload"),
            ] {
                let answer = try call(method, path, reader.token)
                #expect(answer.status == 403 && answer.errorCode == "forbidden", "\(method) \(path): \(answer.body)")
            }
            #expect(try call("GET", "/v1/devices/robot-api", reader.token).json?["in_call"] as? Bool == false)
            #expect(try call("GET", "/v1/devices/no%20such", reader.token).errorCode == "invalid_device_id")

            // A call: live on the device, in the live list, by its id.
            let sim = try Child(
                Binaries.av1sim,
                [
                    "pair", "--relay", "127.0.0.1:\(port)", "--secret", "admin-secret", "--device", "robot-api", "--duration", "6",
                    "--width", "320", "--height", "240",
                ] + Interop.av1simMinimumDelivered)
            var status: [String: Any] = [:]
            let live = eventually {
                status = (try? call("GET", "/v1/devices/robot-api", reader.token).json) ?? [:]
                return status["in_call"] as? Bool == true
            }
            #expect(live, "\(status)")
            let online = status["online"] as? [String: Any]
            #expect(online?["robot"] as? Bool == true && online?["app"] as? Bool == true, "\(status)")
            let liveID = try #require((status["live_session"] as? [String: Any])?["session_id"] as? String)
            let listed = try call("GET", "/v1/sessions?live=true", reader.token).json?["sessions"] as? [[String: Any]] ?? []
            #expect(listed.contains { $0["session_id"] as? String == liveID })
            #expect(try call("GET", "/v1/sessions/\(liveID)", reader.token).json?["type"] as? String == "interim")
            // The metrics see the call: a live session, allocations, packets hairpinned between robot and app.
            #expect(try call("GET", "/metrics").status == 401)
            let during = try call("GET", "/metrics", reader.token)
            #expect(during.headers.lowercased().contains("content-type: text/plain; version=0.0.4"), "\(during.headers)")
            #expect(Metrics.sum(during.body, "av1relay_sessions_live") == 1, "\(during.body)")
            #expect(Metrics.sum(during.body, "av1relay_allocations") >= 2, "\(during.body)")
            #expect(sim.wait(seconds: 60) == 0, "\(sim.text)")
            let after = try call("GET", "/metrics", reader.token).body
            #expect(Metrics.sum(after, "av1relay_packets_relayed_total", ["direction": "hairpin"]) > 100, "\(after)")
            #expect(Metrics.sum(after, "av1relay_requests_total") > 0, "\(after)")
            // Each side's first Allocate is challenged (401); both allocations were UDP.
            #expect(Metrics.sum(after, "av1relay_requests_refused_total", ["method": "allocate", "code": "401"]) >= 2, "\(after)")
            #expect(Metrics.sum(after, "av1relay_allocations_created_total", ["transport": "udp"]) >= 2, "\(after)")
            try Metrics.promtoolAccepts(after, dir)

            // After it: the device's sessions hold its final record, and so does its status.
            var sessions: [[String: Any]] = []
            let stored = eventually {
                sessions =
                    (try? call("GET", "/v1/devices/robot-api/sessions?limit=10", reader.token).json?["sessions"]) as? [[String: Any]] ?? []
                return sessions.contains { $0["session_id"] as? String == liveID && $0["type"] as? String == "final" }
            }
            #expect(stored, "\(sessions)")
            let afterCall = try call("GET", "/v1/devices/robot-api", reader.token).json ?? [:]
            #expect((afterCall["last_session"] as? [String: Any])?["session_id"] as? String == liveID, "\(afterCall)")
            #expect(afterCall["last_seen"] as? String != nil)
            #expect(try call("GET", "/v1/sessions/\(liveID)", reader.token).json?["type"] as? String == "final")
            #expect(try call("GET", "/v1/sessions/\(String(repeating: "0", count: 32))", reader.token).status == 404)

            // Export and erase with the admin token; the second erase finds nothing.
            let export = try call("GET", "/v1/devices/robot-api/export", admin.token).json ?? [:]
            #expect((export["holds"] as? [String: Any])?["store"] as? Int == 1, "\(export)")
            let erased = try call("DELETE", "/v1/devices/robot-api/records", admin.token).json ?? [:]
            #expect(erased["store"] as? Int == 1 && (erased["session_log"] as? Int ?? 0) >= 2, "\(erased)")
            #expect(try call("DELETE", "/v1/devices/robot-api/records", admin.token).json?["total"] as? Int == 0)
            #expect((try call("GET", "/v1/devices/robot-api/export", admin.token).json?["holds"] as? [String: Any])?["total"] as? Int == 0)
            #expect(try call("POST", "/v1/reload", admin.token).json?["changed"] as? [String: Any] != nil)

            // schemathesis, from the served document, with the admin token (drain last, by hand).
            let schemathesis = try Child(
                "/usr/bin/env",
                [
                    "schemathesis", "run", base + "/openapi.json", "-H", "Authorization: Bearer \(admin.token)", "--checks",
                    "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                    "--exclude-path", "/v1/drain", "-n", "20", "--seed", "1", "--generation-database", "none", "--no-color",
                ],
                // schemathesis keeps a cache where it runs: in the test's directory, not the repository.
                directory: dir)
            let verdict = schemathesis.wait(seconds: 300)
            #expect(verdict == 0, "\(schemathesis.text)")
            #expect(schemathesis.text.contains("passed"), "\(schemathesis.text)")

            // Nothing in any answer names an address, a port of the relay, or a token.
            for body in bodies {
                #expect(!body.contains("127.0.0.1") && !body.contains(":\(port)") && !body.contains(admin.token), "\(body)")
            }

            // Drain through the API: not ready at once, and the idle relay exits 0.
            let drain = try call("POST", "/v1/drain", admin.token)
            #expect(drain.status == 202)
            #expect(relay.wait(seconds: 60) == 0, "\(relay.text)")
            #expect(relay.text.contains("drained"))
        }
    }
}
