import Foundation
import Sessions

/// Where session records are kept to be queried: one row per session, the latest record of it
/// (interims while it lasts, then the final, which a late interim never replaces). Writing a
/// record twice leaves one row, so a spool replayed after a failure writes each exactly once.
///
/// Implementations: `SQLiteSessionStore` (embedded, the default) and `PostgresSessionStore` (one
/// database for a fleet). Calls block their thread: make them off Swift's cooperative pool.
public protocol SessionStore: Sendable {
    /// Writes records, all or none.
    func write(_ records: [SessionRecord]) throws
    /// A device's sessions that started in `from..<to` (ISO 8601, either open), oldest first,
    /// at most `limit`, after `cursor` (from the previous page); and the next page's cursor.
    func sessions(device: String, from: String?, to: String?, limit: Int, after cursor: String?) throws -> SessionPage
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
    /// Notes that records were erased (what and how many, never whose or what they held).
    func audit(_ entry: AuditEntry) throws
    /// The audit entries, oldest first.
    func auditEntries() throws -> [AuditEntry]
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

/// An erasure, as the audit keeps it: when, why ("delete" on request, "retention" by age) and how
/// many records, never the device or the records themselves.
public struct AuditEntry: Codable, Sendable, Equatable {
    public var at: String
    public var action: String
    public var records: Int

    public init(at: String, action: String, records: Int) {
        self.at = at
        self.action = action
        self.records = records
    }
}

/// A session store that cannot be opened or written.
public struct StoreError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}
