import AdminAPI
import Foundation
import Glibc
import SessionStore
import Sessions
import TestSupport
import Testing

extension IntegrationSuites {
    /// Usage and the audit trail through the av1relay binary (issue 15): its admin API and its
    /// records command on one SQLite store holding sessions of known times.
    @Suite("Accountability through the binary: usage, audit trail, device-limited tokens", .serialized)
    struct AccountabilityWireTests {
        /// A final record of a known time, bytes each way and grade; `n` names its session.
        static func record(_ n: Int, device: String, _ start: String, _ end: String, bytes: (Int, Int), grade: String) throws
            -> SessionRecord
        {
            let duration = UsageTally.date(end)!.timeIntervalSince(UsageTally.date(start)!)
            let json = """
                {"schema":1,"type":"final","session_id":"\(String(repeating: "\(n)", count: 32))","device_id":"\(device)",
                 "start":"\(start)","end":"\(end)","duration_s":\(duration),"end_reason":"robot-left",
                 "transports":{"robot":"udp","app":"tls"},
                 "directions":{"robot_to_app":{"video":{"streams":1,"packets":9,"bytes":\(bytes.0),"expected":9,"lost":0,
                   "lossPercent":0,"jitterMillis":2,"bitrateKbps":1}},
                  "app_to_robot":{"audio":{"streams":1,"packets":9,"bytes":\(bytes.1),"expected":9,"lost":0,"lossPercent":0,
                   "jitterMillis":2,"bitrateKbps":1}}},
                 "rtt_ms":{"samples":0},"dtls":{"handshakeSeen":true,"completed":true},
                 "quality":{"mos":4.2,"grade":"\(grade)","model":"m"},"signal":{"samples":0,"ranges":{}}}
                """
            return try JSONDecoder().decode(SessionRecord.self, from: Data(json.utf8))
        }

        @Test func usageAndAuditThroughTheAPIAndTheCLI() throws {
            let dir = NSTemporaryDirectory() + "av1relay-accountability-\(getpid())"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let storePath = "\(dir)/sessions.sqlite"
            // Session 1 crosses the period's start (half of it counts), 3 crosses its end; 4 is before it.
            try SQLiteSessionStore(path: storePath).write([
                try Self.record(
                    1, device: "robot-a", "2026-11-30T23:30:00.000Z", "2026-12-01T00:30:00.000Z", bytes: (6000, 1200), grade: "good"),
                try Self.record(
                    2, device: "robot-a", "2026-12-01T10:00:00.000Z", "2026-12-01T10:20:00.000Z", bytes: (2000, 2000), grade: "fair"),
                try Self.record(
                    3, device: "robot-b", "2026-12-02T23:50:00.000Z", "2026-12-03T00:10:00.000Z", bytes: (800, 400), grade: "poor"),
                try Self.record(4, device: "robot-b", "2026-11-29T10:00:00.000Z", "2026-11-29T11:00:00.000Z", bytes: (9, 9), grade: "good"),
            ])
            let admin = try Admin.token("ops", "admin")
            let reader = try Admin.token("support", "read")
            let customer = try Admin.token("acme-tool", "read", devices: "robot-a*")
            let secret = "accountability-secret"
            let relay = try Interop.relay(
                [
                    "--listen", "127.0.0.1:0", "--tcp-listen", "none", "--auth-secret", secret, "--pairing", "on", "--state-directory", dir,
                    "--session-store", "sqlite:\(storePath)", "--session-log", "\(dir)/sessions.jsonl", "--admin-listen", "127.0.0.1:0",
                    "--admin-token", admin.config, "--admin-token", reader.config, "--admin-token", customer.config,
                ] + RelayPortRanges.arguments(RelayPortRanges.adminAPI))
            defer { relay.stop() }
            let adminPort = try Admin.port(relay)
            let base = "http://127.0.0.1:\(adminPort)"
            let trail = try SQLiteSessionStore(path: storePath)
            var shown: [String] = []
            var covered: Set<String> = []

            /// One request; then exactly `audited` new entries (0 or 1), the new one as expected.
            @discardableResult
            func call(
                _ method: String, _ path: String, _ token: (token: String, config: String)?, route: String? = nil, device: String? = nil,
                records: Int? = nil, outcome: String = "ok", accept: String? = nil, status: Int = 200
            ) throws -> HTTPAnswer {
                let before = try trail.auditEntries(.all).count
                let answer = try Admin.request(
                    method, base + path, token: token?.token, curl: accept.map { ["-H", "Accept: \($0)"] } ?? [])
                shown.append(answer.body)
                #expect(answer.status == status, "\(method) \(path): \(answer.body)")
                let after = try trail.auditEntries(.all)
                if let route {
                    covered.insert(route)
                    #expect(after.count == before + 1, "\(method) \(path): \(after.suffix(2))")
                    let e = try #require(after.last)
                    #expect(e.action == route && e.device == device && e.outcome == outcome, "\(e)")
                    #expect(e.actor == String(token!.config.prefix { $0 != ":" }), "\(e)")
                    if let records { #expect(e.records == records, "\(method) \(path): \(e)") }
                } else {
                    #expect(after.count == before, "\(method) \(path) left an entry: \(after.suffix(1))")
                }
                return answer
            }

            let period = "from=2026-12-01T00:00:00Z&to=2026-12-03T00:00:00Z"
            // Usage: 30 min of session 1, 20 of 2, 10 of 3; bytes in proportion.
            let usage = try call("GET", "/v1/usage?\(period)&groupBy=day", reader, route: "GET /v1/usage", records: 3).json ?? [:]
            let total = try #require(usage["total"] as? [String: Any])
            #expect(total["minutes"] as? Double == 60 && total["sessions"] as? Int == 3, "\(usage)")
            #expect((total["bytes"] as? [String: Any])?["robot_to_app"] as? Int == 3000 + 2000 + 400, "\(usage)")
            #expect((total["grade_share"] as? [String: Any])?["good"] as? Double == 0.5, "\(usage)")
            let rows = try #require(usage["rows"] as? [[String: Any]])
            #expect(
                rows.map { $0["group"] as? String } == ["2026-12-01", "2026-12-02"] && rows.map { $0["minutes"] as? Double } == [50, 10])
            let csv = try call("GET", "/v1/usage?\(period)&groupBy=day", reader, route: "GET /v1/usage", records: 3, accept: "text/csv")
            #expect(csv.headers.lowercased().contains("content-type: text/csv"), "\(csv.headers)")
            let lines = csv.body.split(separator: "\r\n").map {
                $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            }
            let header = try #require(lines.first)
            #expect(lines.count == 4, "\(csv.body)")
            for (line, row) in zip(lines.dropFirst(), rows + [total]) {
                let field = { (name: String) in line[header.firstIndex(of: name)!] }
                #expect(field("group") == (row["group"] as? String ?? ""), "\(line)")
                #expect(
                    Double(field("minutes")) == row["minutes"] as? Double && Int(field("sessions")) == row["sessions"] as? Int, "\(line)")
                let bytes = row["bytes"] as? [String: Any]
                #expect(Int(field("bytes_app_to_robot")) == bytes?["app_to_robot"] as? Int, "\(line)")
                #expect(Double(field("minutes_fair")) == (row["minutes_by_grade"] as? [String: Any])?["fair"] as? Double, "\(line)")
            }
            // The records command reads the same store and says the same (and is audited too).
            let before = try trail.auditEntries(.all).count
            let cli = try Child(
                Binaries.av1relay,
                [
                    "records", "usage", "--from", "2026-12-01T00:00:00Z", "--to", "2026-12-03T00:00:00Z", "--group-by", "day", "--csv",
                    "--session-store", "sqlite:\(storePath)", "--state-directory", dir,
                ])
            #expect(cli.wait(seconds: 60) == 0, "\(cli.text)")
            #expect(cli.text == csv.body, "\(cli.text)")
            let cliEntry = try trail.auditEntries(.all)
            #expect(cliEntry.count == before + 1 && cliEntry.last?.actor == "cli" && cliEntry.last?.action == "records usage")

            let device = try call(
                "GET", "/v1/devices/robot-a/usage?\(period)", reader, route: "GET /v1/devices/{deviceId}/usage", device: "robot-a",
                records: 2
            ).json
            #expect((device?["total"] as? [String: Any])?["minutes"] as? Double == 50, "\(String(describing: device))")
            try call("GET", "/v1/usage?from=2026-12-03T00:00:00Z", reader, route: "GET /v1/usage", outcome: "invalid_period", status: 400)
            try call(
                "GET", "/v1/usage?\(period)&groupBy=year", reader, route: "GET /v1/usage", outcome: "invalid_group_by", status: 400)

            // Every other route that reads or changes record data: one entry each, with its count.
            try call("GET", "/v1/devices/robot-a", reader, route: "GET /v1/devices/{deviceId}", device: "robot-a", records: 1)
            let sessions = try call(
                "GET", "/v1/devices/robot-a/sessions", reader, route: "GET /v1/devices/{deviceId}/sessions", device: "robot-a", records: 2)
            #expect((sessions.json?["sessions"] as? [Any])?.count == 2)
            try call("GET", "/v1/sessions?live=true", reader, route: "GET /v1/sessions", records: 0)
            try call("GET", "/v1/sessions", reader, route: "GET /v1/sessions", outcome: "live_required", status: 400)
            let two = String(repeating: "2", count: 32), three = String(repeating: "3", count: 32)
            try call("GET", "/v1/sessions/\(two)", reader, route: "GET /v1/sessions/{sessionId}", device: "robot-a", records: 1)
            try call(
                "GET", "/v1/sessions/\(String(repeating: "f", count: 32))", reader, route: "GET /v1/sessions/{sessionId}",
                outcome: "not_found",
                status: 404)
            let overview = try call("GET", "/status", reader, route: "GET /status", records: 0).body
            #expect(overview.contains("Allocations") && overview.contains("Refusals in the last hour"), "\(overview)")
            try call("GET", "/status/devices/robot-a", reader, route: "GET /status/devices/{deviceId}", device: "robot-a", records: 2)

            // A read token on the admin routes: refused, and the refusal audited; no token: 401, nothing audited.
            try call(
                "GET", "/v1/devices/robot-b/export", reader, route: "GET /v1/devices/{deviceId}/export", outcome: "forbidden", status: 403)
            try call("GET", "/v1/audit", reader, route: "GET /v1/audit", outcome: "forbidden", status: 403)
            try call("GET", "/v1/usage?\(period)", nil, status: 401)
            try call("GET", "/v1/devices/robot-b/sessions", nil, status: 401)

            // A token limited to robot-a*: its devices only; another device is 403 and audited;
            // relay-wide routes are refused.
            try call(
                "GET", "/v1/devices/robot-b/sessions", customer, route: "GET /v1/devices/{deviceId}/sessions", device: "robot-b",
                outcome: "forbidden_device", status: 403)
            try call(
                "GET", "/v1/sessions/\(three)", customer, route: "GET /v1/sessions/{sessionId}", device: "robot-b",
                outcome: "forbidden_device",
                status: 403)
            try call(
                "GET", "/v1/devices/robot-b/usage?\(period)", customer, route: "GET /v1/devices/{deviceId}/usage", device: "robot-b",
                outcome: "forbidden_device", status: 403)
            try call(
                "GET", "/status/devices/robot-b", customer, route: "GET /status/devices/{deviceId}", device: "robot-b",
                outcome: "forbidden_device", status: 403)
            let theirs = try call("GET", "/v1/usage?\(period)&groupBy=device", customer, route: "GET /v1/usage", records: 2).json
            #expect((theirs?["rows"] as? [[String: Any]])?.map { $0["group"] as? String } == ["robot-a"], "\(String(describing: theirs))")
            try call("GET", "/v1/devices/robot-a", customer, route: "GET /v1/devices/{deviceId}", device: "robot-a", records: 1)
            try call("GET", "/metrics", customer, status: 403)
            // The overview shows a limited token its devices only, not the relay's own figures.
            let theirOverview = try call("GET", "/status", customer, route: "GET /status", records: 0).body
            #expect(!theirOverview.contains("Allocations") && !theirOverview.contains("Refusals in the last hour"), "\(theirOverview)")

            // Export and erasure with the admin token.
            try call("GET", "/v1/devices/robot-b/export", admin, route: "GET /v1/devices/{deviceId}/export", device: "robot-b", records: 2)
            try call(
                "DELETE", "/v1/devices/robot-b/records", admin, route: "DELETE /v1/devices/{deviceId}/records", device: "robot-b",
                records: 2)

            // The trail through the API: filtered, paged, verified.
            let page = try call("GET", "/v1/audit?device=robot-b&limit=3", admin, route: "GET /v1/audit", device: "robot-b", records: 3)
                .json
            let entries = try #require(page?["entries"] as? [[String: Any]])
            #expect(entries.count == 3 && entries.allSatisfy { $0["device_id"] as? String == "robot-b" }, "\(entries)")
            let cursor = try #require(page?["next_cursor"] as? String)
            let rest = try call("GET", "/v1/audit?device=robot-b&cursor=\(cursor)", admin, route: "GET /v1/audit", device: "robot-b").json
            #expect(((rest?["entries"] as? [[String: Any]])?.count ?? 0) >= 3, "\(String(describing: rest))")
            let verified = try call("GET", "/v1/audit/verify", admin, route: "GET /v1/audit/verify").json
            #expect(verified?["intact"] as? Bool == true, "\(String(describing: verified))")

            // Every audited route was exercised above.
            let audited = Set(try AdminAPIDocumentTests.routes().filter(\.audited).map(\.description))
            #expect(audited == covered, "not exercised: \(audited.subtracting(covered))")

            // Nothing in the trail, the answers or the log names an address, a port, a username, a
            // token or a secret (but for the start-up lines that say where the relay itself listens).
            let stored = try trail.auditEntries(.all)
            let log = relay.text.split(separator: "\n").filter { !$0.contains(" serving") && !$0.contains("listening on") }.joined(
                separator: "\n")
            let texts = try shown + stored.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) } + [log]
            for text in texts {
                for forbidden in ["127.0.0.1", ":\(adminPort)", admin.token, reader.token, customer.token, secret, "robot:", "app:"] {
                    #expect(!text.contains(forbidden), "\(forbidden) in \(text.prefix(300))")
                }
            }

            // An entry edited behind the relay's back (past the trigger): the chain shows it,
            // through the API and the records command.
            let tamper = try Child(
                "/usr/bin/env",
                [
                    "python3", "-c",
                    "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(\"DROP TRIGGER audit_trail_append_only; UPDATE audit_trail SET device_id='robot-z' WHERE id=2\"); c.commit()",
                    storePath,
                ])
            #expect(tamper.wait(seconds: 30) == 0, "\(tamper.text)")
            let broken = try call("GET", "/v1/audit/verify", admin, route: "GET /v1/audit/verify").json
            #expect(broken?["intact"] as? Bool == false && broken?["broken_at"] as? Int == 2, "\(String(describing: broken))")
            let check = try Child(
                Binaries.av1relay, ["records", "audit", "--verify", "--session-store", "sqlite:\(storePath)", "--state-directory", dir])
            #expect(check.wait(seconds: 60) == 3, "\(check.text)")
            #expect(check.text.contains("\"broken_at\" : 2"), "\(check.text)")
        }
    }
}
