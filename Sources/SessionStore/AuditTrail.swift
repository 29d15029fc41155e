import Foundation
import STUN
import Sessions

/// Who did what to which device's records (issue 15): every read and every change of record
/// data through the admin API or `av1relay records …`, and every retention erasure. Append-only
/// and hash-chained: each entry holds the SHA-256 of the one before it, so an entry edited or
/// removed from the middle shows (`AuditChain.verify`). Never a record's contents, an address, a
/// username, a token or a secret: the token is named by its configured name.
public struct AuditEntry: Codable, Sendable, Equatable {
    /// Position in the trail, from 1; 0 until appended.
    public var id = 0
    /// When, ISO 8601 UTC to the millisecond.
    public var at: String
    /// The token's name (`admin-token NAME:…`), `cli` for the records command, `relay` for retention.
    public var actor: String
    /// The route (`GET /v1/devices/{deviceId}/sessions`) or command (`records export`, `retention`).
    public var action: String
    /// The device the request named, if it named one.
    public var device: String?
    /// How many records were read, exported or erased.
    public var records: Int
    /// `ok`, or the error code the request was answered with (`forbidden_device`, `not_found`, …).
    public var outcome: String
    /// The hash of the entry before (64 zeros for the first the trail ever had).
    public var previousHash = ""
    /// SHA-256 (hex) over this entry's fields and `previousHash`.
    public var hash = ""

    public init(at: String, actor: String, action: String, device: String? = nil, records: Int, outcome: String = "ok") {
        self.at = at
        self.actor = actor
        self.action = action
        self.device = device
        self.records = records
        self.outcome = outcome
    }

    enum CodingKeys: String, CodingKey {
        case id, at, actor, action, device = "device_id", records, outcome, previousHash = "prev_hash", hash
    }
}

/// Which entries: those at `from..<to` (either open), about `device`, after id `after`, at most `limit`.
public struct AuditQuery: Sendable, Equatable {
    public var from: String?
    public var to: String?
    public var device: String?
    public var after: Int?
    public var limit: Int?

    public init(from: String? = nil, to: String? = nil, device: String? = nil, after: Int? = nil, limit: Int? = nil) {
        self.from = from
        self.to = to
        self.device = device
        self.after = after
        self.limit = limit
    }

    /// Every entry.
    public static let all = AuditQuery()
}

/// Where audit entries are kept: the session store's `audit_trail` table (SQLite or, for a
/// fleet, the one PostgreSQL database), or `AuditLog`, a JSON Lines file, when there is no store.
public protocol AuditTrail: Sendable {
    /// Seals `entry` (its id and hashes) after the trail's last entry and appends it; returns it sealed.
    @discardableResult
    func append(_ entry: AuditEntry) throws -> AuditEntry
    /// The entries `query` picks, oldest first.
    func auditEntries(_ query: AuditQuery) throws -> [AuditEntry]
    /// Erases the entries older than `cutoff` (ISO 8601), but never the last one (the chain goes
    /// on from it); returns how many.
    func purgeAudit(before cutoff: String) throws -> Int
}

/// The chain: what an entry's hash covers, and the check of a whole trail.
public enum AuditChain {
    /// The hash before the first entry.
    public static let genesis = String(repeating: "0", count: 64)

    /// `entry` as the entry after one whose id and hash are given (nil: the first).
    public static func seal(_ entry: AuditEntry, after last: (id: Int, hash: String)?) -> AuditEntry {
        var sealed = entry
        sealed.id = (last?.id ?? 0) + 1
        sealed.previousHash = last?.hash ?? genesis
        sealed.hash = hash(of: sealed)
        return sealed
    }

    /// SHA-256 over a JSON array of the fields in a fixed order (unambiguous whatever they hold).
    public static func hash(of e: AuditEntry) -> String {
        let fields: [String?] = ["\(e.id)", e.at, e.actor, e.action, e.device, "\(e.records)", e.outcome, e.previousHash]
        let canonical = (try? JSONEncoder().encode(fields)) ?? Data()
        return STUNCrypto.sha256(Array(canonical)).map { String(format: "%02x", $0) }.joined()
    }

    /// Checks the trail as a whole, oldest first: every entry's hash, and each entry's link to the
    /// one before (the oldest's link is taken as it is: retention erased what came before it).
    public static func verify(_ entries: [AuditEntry]) -> AuditVerification {
        var previous: AuditEntry?
        for entry in entries {
            if hash(of: entry) != entry.hash {
                return .init(entries: entries, brokenAt: entry.id, reason: "entry \(entry.id) was changed after it was written")
            }
            if let previous {
                if entry.id != previous.id + 1 {
                    return .init(
                        entries: entries, brokenAt: entry.id,
                        reason: entry.id > previous.id
                            ? "entries \(previous.id + 1)...\(entry.id - 1) are missing" : "entry \(entry.id) is out of order")
                }
                if entry.previousHash != previous.hash {
                    return .init(entries: entries, brokenAt: entry.id, reason: "entry \(entry.id) does not follow entry \(previous.id)")
                }
            }
            previous = entry
        }
        return .init(entries: entries, brokenAt: nil, reason: nil)
    }
}

/// What `AuditChain.verify` found.
public struct AuditVerification: Codable, Sendable, Equatable {
    public var intact: Bool
    public var entries: Int
    public var firstID: Int?
    public var lastID: Int?
    /// The first entry that breaks the chain, and how.
    public var brokenAt: Int?
    public var reason: String?

    init(entries: [AuditEntry], brokenAt: Int?, reason: String?) {
        intact = brokenAt == nil
        self.entries = entries.count
        firstID = entries.first?.id
        lastID = entries.last?.id
        self.brokenAt = brokenAt
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey {
        case intact, entries, firstID = "first_id", lastID = "last_id", brokenAt = "broken_at", reason
    }
}

extension AuditQuery {
    /// Whether `entry` is one the query picks (ignoring `limit`).
    func picks(_ entry: AuditEntry) -> Bool {
        (from.map { entry.at >= $0 } ?? true) && (to.map { entry.at < $0 } ?? true) && (device.map { entry.device == $0 } ?? true)
            && (after.map { entry.id > $0 } ?? true)
    }
}

/// The audit trail as a hash-chained JSON Lines file (`<state-directory>/audit.jsonl`, mode
/// 0600), for a relay without a session store. Appends and purges hold the file's `flock`, as the
/// session log's writers do, so the relay and `av1relay records …` may both write it.
public struct AuditLog: AuditTrail {
    public let path: String

    public init(path: String) { self.path = path }

    static func decode(_ data: Data) -> [AuditEntry] {
        let decoder = JSONDecoder()
        return data.split(separator: 0x0A).compactMap { try? decoder.decode(AuditEntry.self, from: Data($0)) }
    }

    public func append(_ entry: AuditEntry) throws -> AuditEntry {
        try JSONLinesFile.editing(path, create: true) { handle, _ in
            // The last entry is in the file's tail: an entry is far shorter than 64 KiB.
            let size = try handle.seekToEnd()
            try handle.seek(toOffset: size > 65_536 ? size - 65_536 : 0)
            let last = Self.decode(try handle.readToEnd() ?? Data()).last
            let sealed = AuditChain.seal(entry, after: last.map { ($0.id, $0.hash) })
            try handle.seekToEnd()
            try handle.write(contentsOf: try JSONEncoder.sortedKeys.encode(sealed) + Data("\n".utf8))
            try handle.synchronize()
            return sealed
        } ?? entry
    }

    public func auditEntries(_ query: AuditQuery) throws -> [AuditEntry] {
        let all = Self.decode(FileManager.default.contents(atPath: path) ?? Data()).filter(query.picks)
        return query.limit.map { Array(all.prefix($0)) } ?? all
    }

    public func purgeAudit(before cutoff: String) throws -> Int {
        try JSONLinesFile.editing(path, create: false) { handle, fd in
            try handle.seek(toOffset: 0)
            let lines = (try handle.readToEnd() ?? Data()).split(separator: 0x0A)
            let decoder = JSONDecoder()
            var kept = Data()
            var removed = 0
            for (i, line) in lines.enumerated() {
                if i < lines.count - 1, let e = try? decoder.decode(AuditEntry.self, from: Data(line)), e.at < cutoff {
                    removed += 1
                    continue
                }
                kept.append(contentsOf: line)
                kept.append(0x0A)
            }
            guard removed > 0 else { return 0 }
            try JSONLinesFile.replace(handle, fd, with: kept, path: path)
            return removed
        } ?? 0
    }
}

extension JSONEncoder {
    /// Keys sorted, slashes plain: the form entries are written in.
    static var sortedKeys: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}
