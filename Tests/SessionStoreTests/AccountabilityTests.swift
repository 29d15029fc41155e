import Foundation
import SessionStore
import Sessions
import TestSupport
import Testing

/// The three places an audit trail can live: the two stores' `audit_trail` table, and the JSON
/// Lines file of a relay without a store.
enum TrailKind: String, CaseIterable, CustomTestStringConvertible {
    case sqlite, postgres, file
    var testDescription: String { rawValue }

    /// A new trail, and how to run SQL against it (nil for the file).
    func open(_ dir: Scratch) throws -> (trail: any AuditTrail, sql: ((String) throws -> Void)?) {
        switch self {
        case .sqlite:
            let path = dir.path("s.sqlite")
            return (try SQLiteSessionStore(path: path), { try runSQLite(path, $0) })
        case .postgres:
            let server = try PostgresServer.shared.get()
            let name = PostgresServer.databaseName()
            let url = try server.makeDatabase(name)
            return (try PostgresSessionStore(settings: .init(url: url)), { try server.sql(name, $0) })
        case .file:
            return (AuditLog(path: dir.path("audit.jsonl")), nil)
        }
    }
}

/// Runs `script` on the SQLite file at `path` with Python's sqlite3 (a writer other than the store).
func runSQLite(_ path: String, _ script: String) throws {
    let p = try Process.run(
        URL(fileURLWithPath: "/usr/bin/env"),
        arguments: [
            "python3", "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()", path, script,
        ])
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw StoreError("sqlite3 refused: \(script)") }
}

func entry(_ i: Int, device: String? = "r1", actor: String = "support") -> AuditEntry {
    AuditEntry(
        at: "2026-12-0\(1 + i / 10)T10:00:\(String(format: "%02d", i % 60)).000Z", actor: actor, action: "GET /v1/devices/{deviceId}",
        device: device, records: i)
}

@Suite("Audit trail: append-only, hash-chained, in every store and in a file")
struct AuditTrailTests {
    @Test("entries are sealed in order, chained, and picked by time, device and cursor", arguments: TrailKind.allCases)
    func appendAndQuery(_ kind: TrailKind) throws {
        let dir = try Scratch()
        let (trail, _) = try kind.open(dir)
        var sealed: [AuditEntry] = []
        for i in 0..<12 { sealed.append(try trail.append(entry(i, device: i % 3 == 0 ? "r2" : "r1"))) }
        #expect(sealed.map(\.id) == Array(1...12))
        #expect(sealed.first?.previousHash == AuditChain.genesis)
        #expect(zip(sealed, sealed.dropFirst()).allSatisfy { $0.hash == $1.previousHash })
        let all = try trail.auditEntries(.all)
        #expect(all == sealed)
        #expect(AuditChain.verify(all) == AuditChain.verify(sealed))
        #expect(AuditChain.verify(all).intact && AuditChain.verify(all).entries == 12)
        #expect(try trail.auditEntries(AuditQuery(device: "r2")).map(\.id) == [1, 4, 7, 10])
        #expect(try trail.auditEntries(AuditQuery(from: "2026-12-02T00:00:00.000Z")).map(\.id) == [11, 12])
        #expect(try trail.auditEntries(AuditQuery(to: "2026-12-01T10:00:02.000Z")).map(\.id) == [1, 2])
        #expect(try trail.auditEntries(AuditQuery(after: 5, limit: 3)).map(\.id) == [6, 7, 8])
    }

    @Test("an edited, removed or reordered entry shows; the database refuses UPDATE", arguments: TrailKind.allCases)
    func tampering(_ kind: TrailKind) throws {
        let dir = try Scratch()
        let (trail, sql) = try kind.open(dir)
        for i in 0..<6 { try trail.append(entry(i)) }
        #expect(AuditChain.verify(try trail.auditEntries(.all)).intact)
        if let sql {
            // The trigger: an UPDATE fails and changes nothing.
            #expect(throws: (any Error).self) { try sql("UPDATE audit_trail SET records = 99 WHERE id = 3") }
            #expect(AuditChain.verify(try trail.auditEntries(.all)).intact)
            // Past the trigger (someone with the database's owner rights): the edit shows.
            try sql("DROP TRIGGER audit_trail_append_only" + (kind == .postgres ? " ON audit_trail" : ""))
            try sql("UPDATE audit_trail SET records = 99 WHERE id = 3")
            var found = AuditChain.verify(try trail.auditEntries(.all))
            #expect(!found.intact && found.brokenAt == 3, "\(found)")
            #expect(found.reason?.contains("changed") == true)
            try sql("UPDATE audit_trail SET records = 2 WHERE id = 3")
            #expect(AuditChain.verify(try trail.auditEntries(.all)).intact)
            try sql("DELETE FROM audit_trail WHERE id = 4")
            found = AuditChain.verify(try trail.auditEntries(.all))
            #expect(!found.intact && found.brokenAt == 5 && found.reason?.contains("missing") == true, "\(found)")
        } else {
            let path = dir.path("audit.jsonl")
            let original = try String(contentsOfFile: path, encoding: .utf8)
            var lines = original.split(separator: "\n").map(String.init)
            lines[2] = lines[2].replacingOccurrences(of: "\"records\":2", with: "\"records\":0")
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: false, encoding: .utf8)
            var found = AuditChain.verify(try trail.auditEntries(.all))
            #expect(!found.intact && found.brokenAt == 3, "\(found)")
            lines = original.split(separator: "\n").map(String.init)
            lines.remove(at: 3)
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: false, encoding: .utf8)
            found = AuditChain.verify(try trail.auditEntries(.all))
            #expect(!found.intact && found.brokenAt == 5, "\(found)")
            lines.swapAt(1, 2)
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: false, encoding: .utf8)
            #expect(!AuditChain.verify(try trail.auditEntries(.all)).intact)
        }
    }

    @Test("retention erases old entries but never the last, and the chain goes on intact", arguments: TrailKind.allCases)
    func purge(_ kind: TrailKind) throws {
        let dir = try Scratch()
        let (trail, _) = try kind.open(dir)
        for i in 0..<4 { try trail.append(entry(i)) }
        #expect(try trail.purgeAudit(before: "2026-12-01T10:00:02.000Z") == 2)
        #expect(try trail.auditEntries(.all).map(\.id) == [3, 4])
        // Everything older than the cutoff: the newest stays, so the next entry still links to it.
        #expect(try trail.purgeAudit(before: "2027-01-01T00:00:00.000Z") == 1)
        let next = try trail.append(entry(5))
        #expect(next.id == 5)
        let left = try trail.auditEntries(.all)
        #expect(left.map(\.id) == [4, 5])
        #expect(AuditChain.verify(left).intact)
    }

    @Test("a schema-1 store's erasure notes open the trail after migration")
    func carriedOver() throws {
        let dir = try Scratch()
        let path = dir.path("old.sqlite")
        // The store as schema 1 left it, with two erasure notes.
        let script = """
            CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
            INSERT INTO grdb_migrations VALUES ('1: sessions and audit');
            CREATE TABLE session_records (session_id TEXT PRIMARY KEY NOT NULL, device_id TEXT NOT NULL, type TEXT NOT NULL,
                start TEXT NOT NULL, "end" TEXT NOT NULL, schema INTEGER NOT NULL, record TEXT NOT NULL);
            CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, action TEXT NOT NULL, records INTEGER NOT NULL);
            INSERT INTO audit (at, action, records) VALUES ('2026-11-01T00:00:00.000Z', 'retention', 3);
            INSERT INTO audit (at, action, records) VALUES ('2026-11-02T00:00:00.000Z', 'delete', 5);
            """
        try runSQLite(path, script)
        let store = try SQLiteSessionStore(path: path)
        let trail = try store.auditEntries(.all)
        #expect(trail.map(\.actor) == ["relay", "unknown"] && trail.map(\.action) == ["retention", "records delete"])
        #expect(trail.map(\.records) == [3, 5] && AuditChain.verify(trail).intact)
        #expect(try store.append(entry(1)).id == 3)
    }
}

/// A record of a known time, bytes and grade (schema 1).
func timed(
    _ session: String, device: String, _ start: String, _ end: String, robotToApp: Int, appToRobot: Int, grade: String,
    type: String = "final"
) throws -> SessionRecord {
    var r = try record(session, device: device, type: type, start: start, end: end)
    func stream(_ bytes: Int) throws -> SessionRecord.StreamSummary {
        try JSONDecoder().decode(
            SessionRecord.StreamSummary.self,
            from: Data(
                """
                {"streams":1,"packets":10,"bytes":\(bytes),"expected":10,"lost":0,"lossPercent":0,"jitterMillis":1,"bitrateKbps":1}
                """.utf8))
    }
    // Split over two kinds, as a call's audio and video are.
    r.directions = [
        "robot_to_app": ["audio": try stream(robotToApp / 4), "video": try stream(robotToApp - robotToApp / 4)],
        "app_to_robot": ["audio": try stream(appToRobot)],
    ]
    r.quality.grade = grade
    return r
}

@Suite("Usage: time, bytes and grades over a period, cut at its boundaries")
struct UsageTests {
    /// s1 crosses the period's start and a midnight; s3 crosses the next midnight; s4 is outside.
    static func sessions() throws -> [SessionRecord] {
        [
            try timed(
                "s1", device: "robot-a", "2026-11-30T23:30:00.000Z", "2026-12-01T00:30:00.000Z", robotToApp: 6000, appToRobot: 1200,
                grade: "good"),
            try timed(
                "s2", device: "robot-a", "2026-12-01T10:00:00.000Z", "2026-12-01T10:20:00.000Z", robotToApp: 2000, appToRobot: 2000,
                grade: "fair"),
            try timed(
                "s3", device: "robot-b", "2026-12-02T23:50:00.000Z", "2026-12-03T00:10:00.000Z", robotToApp: 800, appToRobot: 400,
                grade: "poor"),
            try timed(
                "s4", device: "robot-b", "2026-11-29T10:00:00.000Z", "2026-11-29T11:00:00.000Z", robotToApp: 9, appToRobot: 9, grade: "good"
            ),
        ]
    }

    static let from = UsageTally.date("2026-12-01T00:00:00Z")!
    static let to = UsageTally.date("2026-12-03T00:00:00Z")!

    static func report(_ grouping: UsageTally.Grouping?, _ records: [SessionRecord]) -> UsageReport {
        var tally = UsageTally(from: from, to: to, grouping: grouping)
        for r in records { tally.add(r) }
        return tally.report
    }

    @Test func totalsCutAtThePeriod() throws {
        let report = Self.report(nil, try Self.sessions())
        #expect(report.records == 3 && report.rows.isEmpty)
        let t = report.total
        // 30 min of s1, 20 of s2, 10 of s3.
        #expect(t.sessions == 3 && t.seconds == 3600 && t.minutes == 60)
        #expect(t.bytes.robotToApp == 3000 + 2000 + 400 && t.bytes.appToRobot == 600 + 2000 + 200)
        #expect(t.minutesByGrade == ["good": 30, "fair": 20, "poor": 10])
        #expect(t.gradeShare == ["good": 0.5, "fair": 0.3333, "poor": 0.1667])
    }

    @Test func byDayAndMonthAndDevice() throws {
        let days = Self.report(.day, try Self.sessions())
        #expect(days.rows.map(\.group) == ["2026-12-01", "2026-12-02"])
        #expect(days.rows.map(\.minutes) == [50, 10] && days.rows.map(\.sessions) == [2, 1])
        #expect(days.rows.map(\.seconds).reduce(0, +) == days.total.seconds)
        let months = Self.report(.month, try Self.sessions())
        #expect(months.rows.map(\.group) == ["2026-12"] && months.rows[0].minutes == 60 && months.rows[0].sessions == 3)
        let devices = Self.report(.device, try Self.sessions())
        #expect(devices.rows.map(\.group) == ["robot-a", "robot-b"] && devices.rows.map(\.minutes) == [50, 10])
        #expect(devices.rows[0].bytes.robotToApp == 5000 && devices.rows[1].gradeShare["poor"] == 1)
        // A month's grouping cut inside a longer period.
        var long = UsageTally(from: UsageTally.date("2026-11-30T00:00:00Z")!, to: Self.to, grouping: .month)
        for r in try Self.sessions() { long.add(r) }
        #expect(long.report.rows.map(\.group) == ["2026-11", "2026-12"] && long.report.rows.map(\.minutes) == [30, 60])
    }

    @Test func csvHoldsWhatJSONHolds() throws {
        let report = Self.report(.day, try Self.sessions())
        let lines = report.csv.split(separator: "\r\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        #expect(lines.count == 4)
        let header = lines[0]
        #expect(header.prefix(5) == ["kind", "group", "sessions", "seconds", "minutes"])
        for (line, row) in zip(lines.dropFirst(), report.rows + [report.total]) {
            let field = { (name: String) in line[header.firstIndex(of: name)!] }
            #expect(field("group") == (row.group ?? "") && Int(field("sessions")) == row.sessions)
            #expect(Double(field("minutes")) == row.minutes && Int(field("bytes_robot_to_app")) == row.bytes.robotToApp)
            #expect(Double(field("share_good")) == row.gradeShare["good"])
        }
        #expect(lines.last?.first == "total")
    }

    @Test("the stores find the sessions that overlap a period, of all devices or one", arguments: Backend.allCases)
    func overlapping(_ backend: Backend) throws {
        let dir = try Scratch()
        let store = try backend.open(dir)
        try store.write(try Self.sessions())
        let found = try store.sessions(overlapping: "2026-12-01T00:00:00.000Z", to: "2026-12-03T00:00:00.000Z", device: nil)
        #expect(Set(found.map(\.sessionID)) == ["s1", "s2", "s3"])
        let one = try store.sessions(overlapping: "2026-12-01T00:00:00.000Z", to: "2026-12-03T00:00:00.000Z", device: "robot-b")
        #expect(one.map(\.sessionID) == ["s3"])
    }
}
