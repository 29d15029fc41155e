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

    public func audit(_ entry: AuditEntry) throws {
        try database.write { db in
            try db.execute(
                sql: "INSERT INTO audit (at, action, records) VALUES (?, ?, ?)", arguments: [entry.at, entry.action, entry.records])
        }
    }

    public func auditEntries() throws -> [AuditEntry] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT at, action, records FROM audit ORDER BY id").map {
                AuditEntry(at: $0["at"], action: $0["action"], records: $0["records"])
            }
        }
    }
}
