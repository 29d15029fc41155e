import Foundation
import Sessions

// Moved to Sessions with the PostgreSQL URL parser; the store's users still find it here.
@_exported import struct Sessions.StoreError

/// Where session records are kept to be queried: one row per session, the latest record of it
/// (interims while it lasts, then the final, which a late interim never replaces). Writing a
/// record twice leaves one row, so a spool replayed after a failure writes each exactly once.
///
/// Implementations: `SQLiteSessionStore` (embedded, the default) and `PostgresSessionStore` (one
/// database for a fleet). Calls block their thread: make them off Swift's cooperative pool. A
/// store also keeps the audit trail (`AuditTrail`), in a table beside the records.
public protocol SessionStore: AuditTrail {
    /// Writes records, all or none.
    func write(_ records: [SessionRecord]) throws
    /// A device's sessions that started in `from..<to` (ISO 8601, either open), oldest first,
    /// at most `limit`, after `cursor` (from the previous page); and the next page's cursor.
    func sessions(device: String, from: String?, to: String?, limit: Int, after cursor: String?) throws -> SessionPage
    /// The sessions of every device (or of `device`) whose time overlaps `from..<to` (ISO 8601):
    /// started before `to` and not ended before `from`, in no particular order (usage).
    func sessions(overlapping from: String, to: String, device: String?) throws -> [SessionRecord]
    /// One session by its id.
    func session(id: String) throws -> SessionRecord?
    /// Every record held about a device, oldest first.
    func records(device: String) throws -> [SessionRecord]
    /// The final records of the device's latest `limit` sessions that have one, latest first.
    func lastFinals(device: String, limit: Int) throws -> [SessionRecord]
    /// Erases a device's records; returns how many.
    func delete(device: String) throws -> Int
    /// Erases the records of sessions that ended before `cutoff` (ISO 8601); returns how many.
    func purge(endedBefore cutoff: String) throws -> Int
}

extension SessionStore {
    /// The final record of the device's latest session that has one.
    public func lastFinal(device: String) throws -> SessionRecord? { try lastFinals(device: device, limit: 1).first }
}

/// A page of sessions and where the next one starts (nil: this was the last).
public struct SessionPage: Sendable, Equatable {
    public var records: [SessionRecord]
    public var nextCursor: String?

    public init(records: [SessionRecord], nextCursor: String?) {
        self.records = records
        self.nextCursor = nextCursor
    }

    /// A page from the `limit + 1` records a store fetched (oldest first): the first `limit`, and
    /// a cursor after the last of them when there was one more.
    init(fetched: [SessionRecord], limit: Int) {
        records = Array(fetched.prefix(limit))
        nextCursor = fetched.count > limit ? records.last.map { SessionCursor(start: $0.start, sessionID: $0.sessionID).description } : nil
    }
}

/// Where a page of sessions continues: after this start and session id (the order pages are in).
/// Opaque to clients (base64).
struct SessionCursor: CustomStringConvertible {
    var start: String
    var sessionID: String

    init(start: String, sessionID: String) {
        self.start = start
        self.sessionID = sessionID
    }

    /// A cursor a client sent back; `InvalidCursor` when it is not one a page gave.
    init(parsing text: String) throws(InvalidCursor) {
        guard let data = Data(base64Encoded: text), let s = String(data: data, encoding: .utf8) else { throw InvalidCursor() }
        let parts = s.split(separator: "|", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw InvalidCursor() }
        (start, sessionID) = (parts[0], parts[1])
    }

    var description: String { Data("\(start)|\(sessionID)".utf8).base64EncodedString() }
}

/// A page cursor that no page gave: the caller's mistake, not the store's failure.
public struct InvalidCursor: Error, CustomStringConvertible {
    public var description: String { "invalid cursor" }
}

/// The SQL both stores share.
enum SessionRows {
    /// Writes one record into its session's row: the final record of a session is kept over any
    /// interim that arrives after it. `placeholders` are the backend's spelling of the seven
    /// parameters: session id, device id, type, start, end, schema, record (JSON).
    static func upsert(_ placeholders: [String]) -> String {
        """
        INSERT INTO session_records (session_id, device_id, type, start, "end", schema, record)
        VALUES (\(placeholders.joined(separator: ", ")))
        ON CONFLICT (session_id) DO UPDATE SET
            device_id = excluded.device_id, type = excluded.type, start = excluded.start,
            "end" = excluded."end", schema = excluded.schema, record = excluded.record
        WHERE excluded.type = 'final' OR session_records.type <> 'final'
        """
    }
}

/// A value bound to one of the shared statements' parameters.
enum SQLValue {
    case text(String?)
    case int(Int)
}

/// The audit trail's SQL both stores share (the table is `audit_trail`; its schema is each store's
/// migration 2, which also refuses UPDATE with a trigger).
enum AuditTrailRows {
    static let columns = "id, at, actor, action, device_id, records, outcome, prev_hash, hash"

    static func insert(_ placeholders: [String]) -> String {
        "INSERT INTO audit_trail (\(columns)) VALUES (\(placeholders.joined(separator: ", ")))"
    }

    static func values(_ e: AuditEntry) -> [SQLValue] {
        [
            .int(e.id), .text(e.at), .text(e.actor), .text(e.action), .text(e.device), .int(e.records), .text(e.outcome),
            .text(e.previousHash), .text(e.hash),
        ]
    }

    /// The query's statement and its parameters; `placeholder(n)` spells the n-th (from 1).
    static func select(_ q: AuditQuery, placeholder: (Int) -> String) -> (String, [SQLValue]) {
        var conditions: [String] = []
        var values: [SQLValue] = []
        func bind(_ condition: String, _ value: SQLValue) {
            values.append(value)
            conditions.append(condition + placeholder(values.count))
        }
        if let from = q.from { bind("at >= ", .text(from)) }
        if let to = q.to { bind("at < ", .text(to)) }
        if let device = q.device { bind("device_id = ", .text(device)) }
        if let after = q.after { bind("id > ", .int(after)) }
        var sql = "SELECT \(columns) FROM audit_trail"
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        sql += " ORDER BY id"
        if let limit = q.limit { sql += " LIMIT \(max(0, limit))" }
        return (sql, values)
    }

    /// Erases entries older than the cutoff, never the last one: the chain goes on from it.
    static func purge(_ placeholder: String) -> String {
        "DELETE FROM audit_trail WHERE at < \(placeholder) AND id < (SELECT max(id) FROM audit_trail)"
    }

    /// A schema-1 erasure note, as the trail's first entries carry it over: `relay` retention, or
    /// a deletion whose requester that schema did not keep.
    static func carried(at: String, action: String, records: Int) -> AuditEntry {
        AuditEntry(
            at: at, actor: action == "retention" ? "relay" : "unknown", action: action == "retention" ? "retention" : "records delete",
            records: records)
    }
}
