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
    /// The final record of the device's latest session that has one.
    func lastFinal(device: String) throws -> SessionRecord?
    /// Erases a device's records; returns how many.
    func delete(device: String) throws -> Int
    /// Erases the records of sessions that ended before `cutoff` (ISO 8601); returns how many.
    func purge(endedBefore cutoff: String) throws -> Int
    /// Notes that records were erased (what and how many, never whose or what they held).
    func audit(_ entry: AuditEntry) throws
    /// The audit entries, oldest first.
    func auditEntries() throws -> [AuditEntry]
}

/// A page of sessions and where the next one starts (nil: this was the last).
public struct SessionPage: Sendable, Equatable {
    public var records: [SessionRecord]
    public var nextCursor: String?

    public init(records: [SessionRecord], nextCursor: String?) {
        self.records = records
        self.nextCursor = nextCursor
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
