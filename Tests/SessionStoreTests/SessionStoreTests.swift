import Foundation
import SessionStore
import Sessions
import Synchronization
import TestSupport
import Testing

/// A record as the relay writes one (schema 1), with the fields these tests vary.
func record(_ session: String, device: String, type: String = "final", start: String, end: String) throws -> SessionRecord {
    let json = """
        {"schema":1,"type":"\(type)","session_id":"\(session)","device_id":"\(device)","start":"\(start)","end":"\(end)",
         "duration_s":60,"transports":{"robot":"udp","app":"tls"},"directions":{},"rtt_ms":{"samples":0},
         "dtls":{"handshakeSeen":true,"completed":true},"quality":{"mos":4.3,"grade":"good","model":"m"},
         "signal":{"samples":0,"ranges":{}}}
        """
    return try JSONDecoder().decode(SessionRecord.self, from: Data(json.utf8))
}

/// A directory of its own, removed at the end.
final class Scratch {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("av1relay-store-\(UUID().uuidString)")
    init() throws { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(at: url) }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}

/// The two stores, for the tests that every store must pass.
enum Backend: String, CaseIterable, CustomTestStringConvertible {
    case sqlite, postgres
    var testDescription: String { rawValue }

    /// A new, empty store: a file in `dir`, or a database of the shared PostgreSQL server.
    func open(_ dir: Scratch) throws -> any SessionStore {
        switch self {
        case .sqlite: return try SQLiteSessionStore(path: dir.path("s.sqlite"))
        case .postgres:
            let url = try PostgresServer.shared.get().makeDatabase()
            return try PostgresSessionStore(settings: .init(url: url))
        }
    }
}

@Suite("Session stores: SQLite and PostgreSQL, the same tests")
struct StoreTests {
    @Test(
        "a session is one row: the final record wins over interims, also a late one; a second write changes nothing",
        arguments: Backend.allCases)
    func oneRowPerSession(_ backend: Backend) throws {
        let dir = try Scratch()
        let store = try backend.open(dir)
        let interim = try record("s1", device: "r1", type: "interim", start: "2026-12-01T10:00:00.000Z", end: "2026-12-01T10:00:30.000Z")
        let final = try record("s1", device: "r1", start: "2026-12-01T10:00:00.000Z", end: "2026-12-01T10:05:00.000Z")
        try store.write([interim])
        #expect(try store.session(id: "s1")?.type == "interim")
        try store.write([final])
        try store.write([interim])
        try store.write([final])
        #expect(try store.session(id: "s1") == final)
        #expect(try store.records(device: "r1") == [final])
        #expect(try store.session(id: "nope") == nil)
        // The last session is the latest with a final record: a later live one is not it yet.
        try store.write([
            try record("s2", device: "r1", type: "interim", start: "2026-12-01T11:00:00.000Z", end: "2026-12-01T11:00:30.000Z")
        ])
        try store.write([try record("s0", device: "r1", start: "2026-11-30T10:00:00.000Z", end: "2026-11-30T10:05:00.000Z")])
        #expect(try store.lastFinal(device: "r1") == final)
        #expect(try store.lastFinal(device: "r2") == nil)
        let s0 = try record("s0", device: "r1", start: "2026-11-30T10:00:00.000Z", end: "2026-11-30T10:05:00.000Z")
        #expect(try store.lastFinals(device: "r1", limit: 5) == [final, s0])
        #expect(try store.lastFinals(device: "r1", limit: 1) == [final])
    }

    @Test("pages of a device's sessions by start, with a cursor and a time window", arguments: Backend.allCases)
    func pages(_ backend: Backend) throws {
        let dir = try Scratch()
        let store = try backend.open(dir)
        let records = try (0..<7).map { i in
            try record("s\(i)", device: "r1", start: "2026-12-01T10:0\(i):00.000Z", end: "2026-12-01T10:0\(i):30.000Z")
        }
        try store.write(records.reversed())
        try store.write([try record("other", device: "r2", start: "2026-12-01T10:03:00.000Z", end: "2026-12-01T10:04:00.000Z")])
        var seen: [SessionRecord] = []
        var cursor: String?
        repeat {
            let page = try store.sessions(device: "r1", from: nil, to: nil, limit: 3, after: cursor)
            #expect(page.records.count <= 3)
            seen += page.records
            cursor = page.nextCursor
        } while cursor != nil
        #expect(seen == records)
        let window = try store.sessions(
            device: "r1", from: "2026-12-01T10:02:00.000Z", to: "2026-12-01T10:05:00.000Z", limit: 10, after: nil)
        #expect(window.records.map(\.sessionID) == ["s2", "s3", "s4"])
        #expect(window.nextCursor == nil)
        #expect(throws: InvalidCursor.self) { try store.sessions(device: "r1", from: nil, to: nil, limit: 3, after: "not a cursor") }
    }

    @Test("delete erases one device's records and returns how many; purge erases by end", arguments: Backend.allCases)
    func deleteAndPurge(_ backend: Backend) throws {
        let dir = try Scratch()
        let store = try backend.open(dir)
        try store.write([
            try record("a", device: "r1", start: "2026-09-01T10:00:00.000Z", end: "2026-09-01T11:00:00.000Z"),
            try record("b", device: "r1", start: "2026-12-01T10:00:00.000Z", end: "2026-12-01T11:00:00.000Z"),
            try record("c", device: "r2", start: "2026-09-01T10:00:00.000Z", end: "2026-09-01T11:00:00.000Z"),
        ])
        #expect(try store.purge(endedBefore: "2026-10-01T00:00:00.000Z") == 2)
        #expect(try store.records(device: "r2").isEmpty)
        #expect(try store.delete(device: "r1") == 1)
        #expect(try store.delete(device: "r1") == 0)
        #expect(try store.records(device: "r1").isEmpty)
    }

    @Test("a reopened store keeps its records; a file with a schema from a newer relay is refused")
    func schemaVersions() throws {
        let dir = try Scratch()
        let path = dir.path("s.sqlite")
        let r = try record("a", device: "r1", start: "2026-12-01T10:00:00.000Z", end: "2026-12-01T11:00:00.000Z")
        do {
            let store = try SQLiteSessionStore(path: path)
            try store.write([r])
        }
        #expect(try SQLiteSessionStore(path: path).records(device: "r1") == [r])
        // As a later relay would leave it: one more migration applied.
        let status = try Process.run(
            URL(fileURLWithPath: "/usr/bin/env"),
            arguments: [
                "python3", "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"INSERT INTO grdb_migrations VALUES ('99: future')\"); c.commit()",
                path,
            ])
        status.waitUntilExit()
        #expect(status.terminationStatus == 0)
        #expect(throws: StoreError.self) { try SQLiteSessionStore(path: path) }
    }
}

/// A store that fails while `down` is set and counts what reached it.
final class FlakyStore: SessionStore, @unchecked Sendable {
    let inner: SQLiteSessionStore
    let down = Atomic<Bool>(false)
    let writes = Atomic<Int>(0)

    init(_ inner: SQLiteSessionStore) { self.inner = inner }

    func write(_ records: [SessionRecord]) throws {
        if down.load(ordering: .relaxed) { throw StoreError("down") }
        writes.add(records.count, ordering: .relaxed)
        try inner.write(records)
    }
    func sessions(device: String, from: String?, to: String?, limit: Int, after cursor: String?) throws -> SessionPage {
        try inner.sessions(device: device, from: from, to: to, limit: limit, after: cursor)
    }
    func session(id: String) throws -> SessionRecord? { try inner.session(id: id) }
    func records(device: String) throws -> [SessionRecord] { try inner.records(device: device) }
    func lastFinals(device: String, limit: Int) throws -> [SessionRecord] { try inner.lastFinals(device: device, limit: limit) }
    func delete(device: String) throws -> Int { try inner.delete(device: device) }
    func purge(endedBefore cutoff: String) throws -> Int { try inner.purge(endedBefore: cutoff) }
    func sessions(overlapping from: String, to: String, device: String?) throws -> [SessionRecord] {
        try inner.sessions(overlapping: from, to: to, device: device)
    }
    func append(_ entry: AuditEntry) throws -> AuditEntry { try inner.append(entry) }
    func auditEntries(_ query: AuditQuery) throws -> [AuditEntry] { try inner.auditEntries(query) }
    func purgeAudit(before cutoff: String) throws -> Int { try inner.purgeAudit(before: cutoff) }
}

func eventually(seconds: Double = 30, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.02)
    }
    return try condition()
}

@Suite("Store writer: a bounded queue, a spool while the store is down")
struct StoreWriterTests {
    @Test("records written while the store is down wait in the spool and reach it once, in order, when it is back")
    func spoolsAndReplays() throws {
        let dir = try Scratch()
        let store = FlakyStore(try SQLiteSessionStore(path: dir.path("s.sqlite")))
        let writer = StoreWriter(store: store, spoolPath: dir.path("spool.jsonl"), retryInterval: .milliseconds(50))
        try writer.write(try record("a", device: "r1", start: "2026-12-01T10:00:00.000Z", end: "2026-12-01T10:01:00.000Z"))
        writer.flush()
        #expect(store.writes.load(ordering: .relaxed) == 1)
        store.down.store(true, ordering: .relaxed)
        var later: [SessionRecord] = []
        for i in 0..<20 {
            let r = try record("b\(i)", device: "r1", start: "2026-12-01T11:00:\(10 + i).000Z", end: "2026-12-01T11:01:00.000Z")
            later.append(r)
            try writer.write(r)
        }
        writer.flush()
        #expect(writer.backlog.spooled == 20)
        #expect(try store.records(device: "r1").count == 1)
        store.down.store(false, ordering: .relaxed)
        #expect(eventually { writer.backlog.spooled == 0 })
        writer.flush()
        #expect(try store.records(device: "r1").count == 21)
        #expect(store.writes.load(ordering: .relaxed) == 21)
        #expect(Array(try store.records(device: "r1").dropFirst()) == later)
        #expect(writer.backlog == .init(queued: 0, spooled: 0, lost: 0))
    }

    @Test("a relay restarted with a spool writes it first")
    func spoolSurvivesRestart() throws {
        let dir = try Scratch()
        let store = FlakyStore(try SQLiteSessionStore(path: dir.path("s.sqlite")))
        store.down.store(true, ordering: .relaxed)
        do {
            let writer = StoreWriter(store: store, spoolPath: dir.path("spool.jsonl"), retryInterval: .seconds(3600))
            try writer.write(try record("a", device: "r1", start: "2026-12-01T10:00:00.000Z", end: "2026-12-01T10:01:00.000Z"))
            writer.flush()
            #expect(writer.backlog.spooled == 1)
        }
        store.down.store(false, ordering: .relaxed)
        let writer = StoreWriter(store: store, spoolPath: dir.path("spool.jsonl"), retryInterval: .seconds(3600))
        writer.flush()
        #expect(writer.backlog.spooled == 0)
        #expect(try store.records(device: "r1").count == 1)
    }

    @Test("past the spool's bound records are lost, counted and logged, never blocking the caller")
    func boundedSpool() throws {
        let dir = try Scratch()
        let store = FlakyStore(try SQLiteSessionStore(path: dir.path("s.sqlite")))
        store.down.store(true, ordering: .relaxed)
        let logged = Mutex<[String]>([])
        let writer = StoreWriter(store: store, spoolPath: dir.path("spool.jsonl"), spoolMaxBytes: 4096, retryInterval: .seconds(3600)) {
            _, message, _ in logged.withLock { $0.append(message) }
        }
        for i in 0..<20 {
            try writer.write(try record("b\(i)", device: "r1", start: "2026-12-01T11:00:\(10 + i).000Z", end: "2026-12-01T11:01:00.000Z"))
        }
        writer.flush()
        let backlog = writer.backlog
        #expect(backlog.spooled > 0 && backlog.spooled < 20)
        #expect(backlog.spooled + backlog.lost == 20)
        #expect(logged.withLock { $0.contains { $0.contains("lost") } })
        let size = try FileManager.default.attributesOfItem(atPath: dir.path("spool.jsonl"))[.size] as? Int ?? 0
        #expect(size <= 4096)
    }
}

@Suite("Data-subject requests and retention across store, session log and spool")
struct RecordKeeperTests {
    /// A store with r1 and r2 sessions, a session log rotated once with both, and a spool with both.
    static func keeper(in dir: Scratch, _ backend: Backend) throws -> (RecordKeeper, any SessionStore) {
        let store = try backend.open(dir)
        try store.write([
            try record("s1", device: "r1", start: "2026-08-01T10:00:00.000Z", end: "2026-08-01T11:00:00.000Z"),
            try record("s2", device: "r1", start: "2026-12-01T10:00:00.000Z", end: "2026-12-01T11:00:00.000Z"),
            try record("s3", device: "r2", start: "2026-12-01T10:00:00.000Z", end: "2026-12-01T11:00:00.000Z"),
        ])
        // A small session log rotates after a few lines, so records sit in the live file and in .1.
        let sink = try JSONLinesSink(path: dir.path("sessions.jsonl"), maxBytes: 1200, keep: 5)
        for i in 0..<8 {
            let device = i % 2 == 0 ? "r1" : "r2"
            let month = i < 4 ? "08" : "12"
            try sink.write(
                try record(
                    "l\(i)", device: device, type: "interim", start: "2026-\(month)-01T10:00:00.000Z", end: "2026-\(month)-01T10:00:30.000Z"
                ))
        }
        #expect(FileManager.default.fileExists(atPath: dir.path("sessions.jsonl.1")))
        let spool = dir.path("spool.jsonl")
        try JSONLinesFile.append(
            try record("p1", device: "r1", start: "2026-12-02T10:00:00.000Z", end: "2026-12-02T11:00:00.000Z").jsonLine()
                + (try record("p2", device: "r2", start: "2026-12-02T10:00:00.000Z", end: "2026-12-02T11:00:00.000Z").jsonLine()), to: spool
        )
        let keeper = RecordKeeper(
            store: store, sessionLog: dir.path("sessions.jsonl"), sessionLogKeep: 5, spoolPath: spool, auditLog: dir.path("audit.jsonl"))
        return (keeper, store)
    }

    @Test("export holds every record of the device, from every place, and nothing of another", arguments: Backend.allCases)
    func export(_ backend: Backend) throws {
        let dir = try Scratch()
        let (keeper, _) = try Self.keeper(in: dir, backend)
        let export = try keeper.export(device: "r1", now: Date(timeIntervalSince1970: 1_796_000_000))
        #expect(export.holds == .init(store: 2, sessionLog: 4, spool: 1))
        #expect((export.store + export.sessionLog + export.spool).allSatisfy { $0.deviceID == "r1" })
        #expect(Set(export.sessionLog.map(\.sessionID)) == ["l0", "l2", "l4", "l6"])
        #expect(export.from == "2026-08-01T10:00:00.000Z")
        #expect(export.to == "2026-12-02T11:00:00.000Z")
        let json = String(decoding: try JSONEncoder().encode(export), as: UTF8.self)
        #expect(json.contains("\"session_log\""))
        #expect(json.contains("\"device_id\":\"r1\""))
    }

    @Test(
        "delete erases the device everywhere (rotated logs too), leaves others, is idempotent, and is audited once per request",
        arguments: Backend.allCases)
    func delete(_ backend: Backend) throws {
        let dir = try Scratch()
        let (keeper, store) = try Self.keeper(in: dir, backend)
        let erase = {
            try keeper.audited(actor: "dpo", action: "records delete", device: "r1", records: \.total) { try keeper.delete(device: "r1") }
        }
        let counts = try erase()
        #expect(counts == .init(store: 2, sessionLog: 4, spool: 1))
        #expect(counts.total == 7)
        #expect(try erase() == .init())
        let after = try keeper.export(device: "r1")
        #expect(after.holds.total == 0)
        #expect(after.from == nil)
        #expect(try keeper.export(device: "r2").holds == .init(store: 1, sessionLog: 4, spool: 1))
        for file in ["sessions.jsonl", "sessions.jsonl.1", "spool.jsonl"] {
            let text = (try? String(contentsOfFile: dir.path(file), encoding: .utf8)) ?? ""
            #expect(!text.contains("\"r1\""), "\(file)")
        }
        let audit = try store.auditEntries(.all)
        #expect(audit.map(\.action) == ["records delete", "records delete"])
        #expect(audit.map(\.actor) == ["dpo", "dpo"] && audit.map(\.device) == ["r1", "r1"])
        #expect(audit.map(\.records) == [7, 0])
        #expect(AuditChain.verify(audit).intact)
    }

    @Test("the session log goes on at its end after an erasure rewrote it in place")
    func sinkAfterErasure() throws {
        let dir = try Scratch()
        let path = dir.path("sessions.jsonl")
        let sink = try JSONLinesSink(path: path, maxBytes: 1 << 20, keep: 2)
        for i in 0..<4 {
            try sink.write(
                try record("l\(i)", device: i < 3 ? "r1" : "r2", start: "2026-12-01T10:00:00.000Z", end: "2026-12-01T10:00:30.000Z"))
        }
        #expect(try JSONLinesFile.remove(from: path) { $0.deviceID == "r1" } == 3)
        try sink.write(try record("l4", device: "r2", start: "2026-12-01T10:00:00.000Z", end: "2026-12-01T10:00:30.000Z"))
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(!data.contains(0))
        #expect(try JSONLinesFile.records(path).map(\.sessionID) == ["l3", "l4"])
    }

    @Test("retention erases what ended more than N days before the given time, everywhere", arguments: Backend.allCases)
    func retention(_ backend: Backend) throws {
        let dir = try Scratch()
        let (keeper, store) = try Self.keeper(in: dir, backend)
        // 2026-12-02T12:00:00Z, 90 days: the cutoff is 2026-09-03.
        let now = try #require(ISO8601DateFormatter().date(from: "2026-12-02T12:00:00Z"))
        let counts = try keeper.purge(olderThanDays: 90, auditDays: 365, now: now).records
        #expect(counts == .init(store: 1, sessionLog: 4, spool: 0))
        #expect(try keeper.purge(olderThanDays: 90, auditDays: 365, now: now).records == .init())
        #expect(try store.records(device: "r1").map(\.sessionID) == ["s2"])
        #expect(try keeper.export(device: "r1").sessionLog.allSatisfy { $0.end >= "2026-09-03" })
        let audit = try store.auditEntries(.all)
        #expect(audit.map(\.action) == ["retention"] && audit.map(\.actor) == ["relay"] && audit.map(\.records) == [5])
    }
}
