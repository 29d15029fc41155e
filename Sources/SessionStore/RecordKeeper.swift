import Foundation
import Sessions

/// Every place session records are kept — the store, the JSON Lines session log with its
/// rotations, the store's spool — and what data subjects and the retention limit ask of them:
/// export a device's records, erase them, erase what is too old. The relay (and later its admin
/// API) and `av1relay records …` both go through here.
public struct RecordKeeper: Sendable {
    public let store: (any SessionStore)?
    /// In a running relay: deliveries to the store pause while records are erased.
    public let writer: StoreWriter?
    /// The session log (`session-log`) and how many rotations of it are kept.
    public let sessionLog: String?
    public let sessionLogKeep: Int
    public let spoolPath: String?

    public init(store: (any SessionStore)?, writer: StoreWriter? = nil, sessionLog: String?, sessionLogKeep: Int, spoolPath: String?) {
        self.store = store
        self.writer = writer
        self.sessionLog = sessionLog
        self.sessionLogKeep = sessionLogKeep
        self.spoolPath = spoolPath
    }

    /// Counts by place.
    public struct Counts: Codable, Sendable, Equatable {
        public var store = 0
        public var sessionLog = 0
        public var spool = 0
        public var total: Int { store + sessionLog + spool }

        enum CodingKeys: String, CodingKey {
            case store, sessionLog = "session_log", spool, total
        }

        public init(store: Int = 0, sessionLog: Int = 0, spool: Int = 0) {
            self.store = store
            self.sessionLog = sessionLog
            self.spool = spool
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            store = try c.decode(Int.self, forKey: .store)
            sessionLog = try c.decode(Int.self, forKey: .sessionLog)
            spool = try c.decode(Int.self, forKey: .spool)
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(store, forKey: .store)
            try c.encode(sessionLog, forKey: .sessionLog)
            try c.encode(spool, forKey: .spool)
            try c.encode(total, forKey: .total)
        }
    }

    /// Everything held about one device (data-subject access and portability): the records by
    /// place, how many, and the time they span.
    public struct Export: Codable, Sendable, Equatable {
        public var deviceID: String
        public var generatedAt: String
        /// The earliest start and the latest end among the records; nil when there are none.
        public var from: String?
        public var to: String?
        public var holds: Counts
        public var store: [SessionRecord]
        public var sessionLog: [SessionRecord]
        public var spool: [SessionRecord]

        enum CodingKeys: String, CodingKey {
            case deviceID = "device_id", generatedAt = "generated_at", from, to, holds, store
            case sessionLog = "session_log", spool
        }
    }

    var sessionLogFiles: [String] {
        sessionLog.map { JSONLinesFile.withRotations($0, keep: sessionLogKeep) } ?? []
    }

    func exclusively<T>(_ body: () throws -> T) throws -> T {
        if let writer { return try writer.exclusively(body) }
        return try body()
    }

    public func export(device: String, now: Date = Date()) throws -> Export {
        try exclusively {
            let stored = try store?.records(device: device) ?? []
            // Oldest file first: the highest rotation, then down to the live file.
            let logged = try sessionLogFiles.reversed().flatMap { try JSONLinesFile.records($0) }.filter { $0.deviceID == device }
            let spooled = try spoolPath.map { try JSONLinesFile.records($0) }?.filter { $0.deviceID == device } ?? []
            let all = stored + logged + spooled
            return Export(
                deviceID: device, generatedAt: SessionRecord.timestamp(now), from: all.map(\.start).min(), to: all.map(\.end).max(),
                holds: Counts(store: stored.count, sessionLog: logged.count, spool: spooled.count), store: stored,
                sessionLog: logged, spool: spooled)
        }
    }

    /// Erases a device's records everywhere; idempotent (a second call returns zeros). The audit
    /// keeps that it happened and how many, not whose.
    public func delete(device: String, now: Date = Date()) throws -> Counts {
        let counts = try erase(action: "delete", now: now) {
            $0.deviceID == device
        } store: {
            try $0.delete(device: device)
        }
        return counts
    }

    /// Erases the records of sessions that ended more than `days` days before `now`.
    public func purge(olderThanDays days: Int, now: Date = Date()) throws -> Counts {
        let cutoff = SessionRecord.timestamp(now.addingTimeInterval(-Double(days) * 86_400))
        return try erase(action: "retention", now: now) {
            $0.end < cutoff
        } store: {
            try $0.purge(endedBefore: cutoff)
        }
    }

    func erase(
        action: String, now: Date, where remove: (SessionRecord) -> Bool, store erase: (any SessionStore) throws -> Int
    ) throws -> Counts {
        try exclusively {
            var counts = Counts()
            if let store { counts.store = try erase(store) }
            for file in sessionLogFiles { counts.sessionLog += try JSONLinesFile.remove(from: file, where: remove) }
            if let spoolPath { counts.spool = try JSONLinesFile.remove(from: spoolPath, where: remove) }
            if counts.total > 0 || action == "delete" {
                try store?.audit(AuditEntry(at: SessionRecord.timestamp(now), action: action, records: counts.total))
            }
            return counts
        }
    }
}
