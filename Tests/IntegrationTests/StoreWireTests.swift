import Foundation
import Glibc
import SessionStore
import Sessions
import TestSupport
import Testing

extension IntegrationSuites {
    /// Two real calls through the av1relay binary with its default store (SQLite in the state
    /// directory) beside the session log, then `av1relay records export|delete` against them while
    /// the relay still runs.
    @Suite("Session store and data-subject requests, through the binary", .serialized)
    struct StoreWireTests {
        static func records(_ verb: String, _ device: String, _ options: [String]) throws -> (Int32?, String) {
            let p = try Child(Binaries.av1relay, ["records", verb, "--device", device] + options)
            let status = p.wait(seconds: 60)
            return (status, p.text)
        }

        static func export(_ device: String, _ options: [String]) throws -> RecordKeeper.Export {
            let (status, text) = try records("export", device, options)
            guard status == 0 else { throw TestError("records export exited \(String(describing: status)): \(text)") }
            return try JSONDecoder().decode(RecordKeeper.Export.self, from: Data(text.utf8))
        }

        @Test func callsAreStoredExportedAndErased() throws {
            let dir = NSTemporaryDirectory() + "av1relay-store-\(getpid())"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let options = ["--state-directory", dir, "--session-log", "\(dir)/sessions.jsonl"]
            let relay = try Interop.relay(
                [
                    "--listen", "127.0.0.1:0", "--tcp-listen", "none", "--auth-secret", "store-secret", "--pairing", "on",
                    "--session-interim", "2", "--session-idle", "2",
                ] + options + RelayPortRanges.arguments(RelayPortRanges.sessionStore))
            defer { relay.stop() }
            let port = try Interop.port(relay, "udp")
            // Two devices' calls at once: what one device's export holds, the other's must not.
            let calls = try ["robot-store", "robot-other"].map { device in
                try Child(
                    Binaries.av1sim,
                    [
                        "pair", "--relay", "127.0.0.1:\(port)", "--secret", "store-secret", "--device", device, "--duration", "4",
                        "--width", "320", "--height", "240",
                    ] + Interop.av1simMinimumDelivered)
            }
            for call in calls { #expect(call.wait(seconds: 60) == 0, "\(call.text)") }

            // The final records reach the store (through its own queue) while the relay runs.
            var mine: RecordKeeper.Export?
            let stored = eventually {
                mine = try? Self.export("robot-store", options)
                let other = try? Self.export("robot-other", options)
                return mine?.store.first?.type == "final" && other?.store.first?.type == "final"
            }
            try #require(stored, "no final record in the store 30 s after the calls: \(String(describing: mine))")
            let export = try #require(mine)
            #expect(export.holds.store == 1)
            #expect(export.holds.sessionLog >= 2, "interims and the final in the session log")
            #expect((export.store + export.sessionLog + export.spool).allSatisfy { $0.deviceID == "robot-store" })
            #expect(export.from != nil && export.to != nil)
            #expect(FileManager.default.fileExists(atPath: "\(dir)/sessions.sqlite"))

            // Erased while the relay runs: every place, counted; a second time, nothing.
            let (deleted, deleteText) = try Self.records("delete", "robot-store", options)
            #expect(deleted == 0, "\(deleteText)")
            let counts = try JSONDecoder().decode(RecordKeeper.Counts.self, from: Data(deleteText.utf8))
            #expect(counts.store == 1 && counts.sessionLog == export.holds.sessionLog, "\(deleteText)")
            let (again, againText) = try Self.records("delete", "robot-store", options)
            #expect(again == 0)
            #expect(try JSONDecoder().decode(RecordKeeper.Counts.self, from: Data(againText.utf8)).total == 0, "\(againText)")
            #expect(try Self.export("robot-store", options).holds.total == 0)
            #expect(try Self.export("robot-other", options).holds.store == 1)
            let log = try String(contentsOfFile: "\(dir)/sessions.jsonl", encoding: .utf8)
            #expect(!log.contains("robot-store") && log.contains("robot-other"))

            // The relay goes on and stops cleanly; nothing of the erased device comes back.
            relay.signal(SIGTERM)
            #expect(relay.wait(seconds: 30) == 0, "\(relay.text)")
            #expect(try Self.export("robot-store", options).holds.total == 0)
            // The relay's log names no device.
            #expect(!relay.text.contains("robot-store"))
        }

        /// A fleet's store: two relays on one PostgreSQL database, each with its own admin API. A
        /// call through one is read through the other's; the database stops mid-run and a call
        /// goes on, its records spool, and when the database is back both calls are there once
        /// each; erasure through one relay is seen by the other.
        @Test func twoRelaysShareOnePostgresDatabase() throws {
            let server = try PostgresServer()  // its own: this test stops it
            defer { server.remove() }
            let url = try server.makeDatabase()
            let admin = try Admin.token("fleet-ops", "admin")
            let dir = NSTemporaryDirectory() + "av1relay-fleet-store-\(getpid())"
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let ranges = [RelayPortRanges.sessionStore.lowerBound...28499, 28500...RelayPortRanges.sessionStore.upperBound]
            let relays = try ranges.enumerated().map { index, range in
                try FileManager.default.createDirectory(atPath: "\(dir)/\(index)", withIntermediateDirectories: true)
                return try Interop.relay(
                    [
                        "--listen", "127.0.0.1:0", "--tcp-listen", "none", "--auth-secret", "fleet-store-secret", "--pairing", "on",
                        "--session-interim", "2", "--session-idle", "2", "--state-directory", "\(dir)/\(index)",
                        "--session-store", url, "--admin-listen", "127.0.0.1:0", "--admin-token", admin.config,
                    ] + RelayPortRanges.arguments(range))
            }
            defer { for relay in relays { relay.stop() } }
            let apis = try relays.map { "http://127.0.0.1:\(try Admin.port($0))" }
            func call(through relay: Child) throws {
                let sim = try Child(
                    Binaries.av1sim,
                    [
                        "pair", "--relay", "127.0.0.1:\(try Interop.port(relay, "udp"))", "--secret", "fleet-store-secret", "--device",
                        "robot-fleet", "--duration", "4", "--width", "320", "--height", "240",
                    ] + Interop.av1simMinimumDelivered)
                #expect(sim.wait(seconds: 60) == 0, "\(sim.text)")
            }
            /// The device's final records, as `api` reads them, once there are `count`.
            func finals(_ api: String, _ count: Int) throws -> [[String: Any]] {
                var sessions: [[String: Any]] = []
                let seen = eventually(seconds: 60) {
                    let answer = try? Admin.request("GET", api + "/v1/devices/robot-fleet/sessions", token: admin.token)
                    sessions = answer?.json?["sessions"] as? [[String: Any]] ?? []
                    return sessions.filter { $0["type"] as? String == "final" }.count >= count
                }
                try #require(seen, "not \(count) final records through \(api) 60 s after the call: \(sessions)")
                return sessions
            }

            // The first relay's call, read through the second relay's API.
            try call(through: relays[0])
            let first = try finals(apis[1], 1)
            #expect(first.count == 1, "one row per session: \(first)")
            let status = try Admin.request("GET", apis[1] + "/v1/devices/robot-fleet", token: admin.token).json ?? [:]
            #expect(status["in_call"] as? Bool == false, "\(status)")
            #expect((status["last_session"] as? [String: Any])?["session_id"] as? String == first.first?["session_id"] as? String)

            // The database stops: a call through the second relay goes on, its records spool.
            try server.stop()
            try call(through: relays[1])
            #expect(relays[1].waitFor("session store unavailable, records spooled", seconds: 60), "\(relays[1].text)")
            let unavailable = try Admin.request("GET", apis[0] + "/v1/devices/robot-fleet/sessions", token: admin.token)
            #expect(unavailable.status == 503 && unavailable.errorCode == "store_unavailable", "\(unavailable.body)")
            // Back: both calls, each once, through the first relay's API.
            try server.start()
            #expect(relays[1].waitFor("session store back: spooled records written", seconds: 60), "\(relays[1].text)")
            let both = try finals(apis[0], 2)
            let ids = both.compactMap { $0["session_id"] as? String }
            #expect(both.count == 2 && Set(ids).count == 2, "\(both)")

            // Erased through the second relay, gone for the first.
            let erased = try Admin.request("DELETE", apis[1] + "/v1/devices/robot-fleet/records", token: admin.token).json ?? [:]
            #expect(erased["store"] as? Int == 2, "\(erased)")
            let export = try Admin.request("GET", apis[0] + "/v1/devices/robot-fleet/export", token: admin.token).json ?? [:]
            #expect((export["holds"] as? [String: Any])?["store"] as? Int == 0, "\(export)")

            for relay in relays {
                relay.signal(SIGTERM)
                #expect(relay.wait(seconds: 30) == 0, "\(relay.text)")
                // No address, port, user name or device in the relay's log.
                for secret in ["robot-fleet", "127.0.0.1:\(server.port)", server.user + "@"] {
                    #expect(!relay.text.contains(secret), "\(secret) in the log: \(relay.text)")
                }
            }
        }

        @Test func badRecordsArgumentsExit2() throws {
            for args in [["records"], ["records", "show"], ["records", "export"], ["records", "delete", "--device"]] {
                let p = try Child(Binaries.av1relay, args)
                #expect(p.wait(seconds: 30) == 2, "\(args): \(p.text)")
                #expect(p.text.contains("Usage: av1relay records"), "\(args): \(p.text)")
            }
            let p = try Child(Binaries.av1relay, ["records", "export", "--device", "x", "--session-store", "postgres://127.0.0.1/x"])
            #expect(p.wait(seconds: 30) == 2)
            #expect(p.text.contains("session-store") && p.text.contains("names no user"), "\(p.text)")
        }
    }
}
