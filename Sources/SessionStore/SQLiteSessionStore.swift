import Foundation
import GRDB
import Sessions

/// The embedded store: one SQLite file (WAL, so `av1relay records …` may read and erase while a
/// relay writes), through GRDB. The schema is versioned by GRDB's migrator: each migration runs
/// once, in order, and a file from a newer relay is refused rather than misread.
public final class SQLiteSessionStore: SessionStore {
    let database: DatabasePool
    public let path: String

    /// The schema's migrations, oldest first. A new one is appended, never edited.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("1: sessions and audit") { db in
            try db.execute(
                sql: """
                    CREATE TABLE session_records (
                        session_id TEXT PRIMARY KEY NOT NULL,
                        device_id TEXT NOT NULL,
                        type TEXT NOT NULL,
                        start TEXT NOT NULL,
                        "end" TEXT NOT NULL,
                        schema INTEGER NOT NULL,
                        record TEXT NOT NULL
                    );
                    CREATE INDEX session_records_device ON session_records (device_id, start, session_id);
                    CREATE INDEX session_records_end ON session_records ("end");
                    CREATE TABLE audit (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        at TEXT NOT NULL,
                        action TEXT NOT NULL,
                        records INTEGER NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("2: audit trail") { db in
            try db.execute(
                sql: """
                    CREATE TABLE audit_trail (
                        id INTEGER PRIMARY KEY NOT NULL,
                        at TEXT NOT NULL,
                        actor TEXT NOT NULL,
                        action TEXT NOT NULL,
                        device_id TEXT,
                        records INTEGER NOT NULL,
                        outcome TEXT NOT NULL,
                        prev_hash TEXT NOT NULL,
                        hash TEXT NOT NULL
                    );
                    CREATE INDEX audit_trail_at ON audit_trail (at);
                    CREATE TRIGGER audit_trail_append_only BEFORE UPDATE ON audit_trail
                    BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
                    """)
            // The erasure notes of schema 1 open the trail, in their order.
            for row in try Row.fetchAll(db, sql: "SELECT at, action, records FROM audit ORDER BY id") {
                _ = try Self.append(AuditTrailRows.carried(at: row["at"], action: row["action"], records: row["records"]), db)
            }
            try db.execute(sql: "DROP TABLE audit")
        }
        return migrator
    }

    /// Opens (creating, with mode 0600) and migrates the store at `path`.
    public init(path: String) throws {
        self.path = path
        var configuration = Configuration()
        // Another process (the records CLI, a second relay's reader) may hold the lock briefly.
        configuration.busyMode = .timeout(10)
        let fresh = !FileManager.default.fileExists(atPath: path)
        do {
            database = try DatabasePool(path: path, configuration: configuration)
            if fresh { chmod(path, 0o600) }
            let migrator = Self.migrator
            let unknown = try database.read { db in
                try migrator.appliedIdentifiers(db).subtracting(migrator.migrations)
            }
            guard unknown.isEmpty else {
                throw StoreError("\(path) has a newer schema (\(unknown.sorted().joined(separator: ", "))) than this relay knows")
            }
            try migrator.migrate(database)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError("cannot open the session store \(path): \(error)")
        }
    }

    static func decode(_ rows: [Row]) throws -> [SessionRecord] {
        let decoder = JSONDecoder()
        return try rows.map { try decoder.decode(SessionRecord.self, from: Data(($0["record"] as String).utf8)) }
    }

    public func write(_ records: [SessionRecord]) throws {
        let rows = try records.map { r in (r, String(decoding: try r.json(), as: UTF8.self)) }
        try database.write { db in
            for (r, json) in rows {
                try db.execute(
                    sql: SessionRows.upsert(Array(repeating: "?", count: 7)),
                    arguments: [r.sessionID, r.deviceID, r.type, r.start, r.end, r.schema, json])
            }
        }
    }

    public func sessions(device: String, from: String?, to: String?, limit: Int, after cursor: String?) throws -> SessionPage {
        let limit = max(1, limit)
        var sql = "SELECT record FROM session_records WHERE device_id = ?"
        var arguments: StatementArguments = [device]
        if let from {
            sql += " AND start >= ?"
            _ = arguments.append(contentsOf: [from])
        }
        if let to {
            sql += " AND start < ?"
            _ = arguments.append(contentsOf: [to])
        }
        if let cursor {
            let c = try SessionCursor(parsing: cursor)
            sql += " AND (start > ? OR (start = ? AND session_id > ?))"
            _ = arguments.append(contentsOf: [c.start, c.start, c.sessionID])
        }
        sql += " ORDER BY start, session_id LIMIT ?"
        _ = arguments.append(contentsOf: [limit + 1])
        let rows = try database.read { db in try Row.fetchAll(db, sql: sql, arguments: arguments) }
        return SessionPage(fetched: try Self.decode(rows), limit: limit)
    }

    public func sessions(overlapping from: String, to: String, device: String?) throws -> [SessionRecord] {
        var sql = "SELECT record FROM session_records WHERE start < ? AND \"end\" >= ?"
        var arguments: StatementArguments = [to, from]
        if let device {
            sql += " AND device_id = ?"
            _ = arguments.append(contentsOf: [device])
        }
        let rows = try database.read { db in try Row.fetchAll(db, sql: sql, arguments: arguments) }
        return try Self.decode(rows)
    }

    public func session(id: String) throws -> SessionRecord? {
        let rows = try database.read { db in
            try Row.fetchAll(db, sql: "SELECT record FROM session_records WHERE session_id = ?", arguments: [id])
        }
        return try Self.decode(rows).first
    }

    public func records(device: String) throws -> [SessionRecord] {
        let rows = try database.read { db in
            try Row.fetchAll(
                db, sql: "SELECT record FROM session_records WHERE device_id = ? ORDER BY start, session_id", arguments: [device])
        }
        return try Self.decode(rows)
    }

    public func lastFinals(device: String, limit: Int) throws -> [SessionRecord] {
        let rows = try database.read { db in
            try Row.fetchAll(
                db,
                sql:
                    "SELECT record FROM session_records WHERE device_id = ? AND type = 'final' ORDER BY start DESC, session_id DESC LIMIT ?",
                arguments: [device, limit])
        }
        return try Self.decode(rows)
    }

    public func delete(device: String) throws -> Int {
        try database.write { db in
            try db.execute(sql: "DELETE FROM session_records WHERE device_id = ?", arguments: [device])
            return db.changesCount
        }
    }

    public func purge(endedBefore cutoff: String) throws -> Int {
        try database.write { db in
            try db.execute(sql: "DELETE FROM session_records WHERE \"end\" < ?", arguments: [cutoff])
            return db.changesCount
        }
    }

    static func append(_ entry: AuditEntry, _ db: Database) throws -> AuditEntry {
        let last = try Row.fetchOne(db, sql: "SELECT id, hash FROM audit_trail ORDER BY id DESC LIMIT 1")
        let sealed = AuditChain.seal(entry, after: last.map { ($0["id"], $0["hash"]) })
        try db.execute(
            sql: AuditTrailRows.insert(Array(repeating: "?", count: 9)), arguments: StatementArguments(AuditTrailRows.values(sealed)))
        return sealed
    }

    public func append(_ entry: AuditEntry) throws -> AuditEntry {
        // IMMEDIATE: the last entry read is still the last when this one is written, whichever
        // process (a relay, the records command) appends at the same time.
        try database.writeWithoutTransaction { db in
            var sealed = entry
            try db.inTransaction(.immediate) {
                sealed = try Self.append(entry, db)
                return .commit
            }
            return sealed
        }
    }

    public func auditEntries(_ query: AuditQuery) throws -> [AuditEntry] {
        let (sql, arguments) = AuditTrailRows.select(query) { _ in "?" }
        return try database.read { db in
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(arguments)).map(AuditTrailRows.entry)
        }
    }

    public func purgeAudit(before cutoff: String) throws -> Int {
        try database.write { db in
            try db.execute(sql: AuditTrailRows.purge("?"), arguments: [cutoff])
            return db.changesCount
        }
    }
}

extension AuditTrailRows {
    static func entry(_ row: Row) -> AuditEntry {
        var e = AuditEntry(
            at: row["at"], actor: row["actor"], action: row["action"], device: row["device_id"], records: row["records"],
            outcome: row["outcome"])
        e.id = row["id"]
        e.previousHash = row["prev_hash"]
        e.hash = row["hash"]
        return e
    }
}

extension StatementArguments {
    init(_ values: [SQLValue]) {
        self.init(
            values.map { v -> (any DatabaseValueConvertible)? in
                switch v {
                case .text(let s): return s
                case .int(let n): return n
                }
            })
    }
}
