import Foundation
import Sessions

/// Every place session records are kept — the store, the JSON Lines session log with its
/// rotations, the store's spool — and what data subjects and the retention limit ask of them:
/// export a device's records, erase them, erase what is too old, and the audit trail of who did
/// (`trail`). The relay, its admin API and `av1relay records …` all go through here.
public struct RecordKeeper: Sendable {
    public let store: (any SessionStore)?
    /// In a running relay: deliveries to the store pause while records are erased.
    public let writer: StoreWriter?
    /// The session log (`session-log`) and how many rotations of it are kept.
    public let sessionLog: String?
    public let sessionLogKeep: Int
    /// In a running relay: the session log's sink, whose records waiting in memory (while the
    /// file cannot be written) are exported and erased with the file's.
    public let sessionLogSink: JSONLinesSink?
    public let spoolPath: String?
    /// The audit trail: the store's, or without a store the JSON Lines file `auditLog`.
    public let trail: any AuditTrail

    public init(
        store: (any SessionStore)?, writer: StoreWriter? = nil, sessionLog: String?, sessionLogKeep: Int, spoolPath: String?,
        auditLog: String, sessionLogSink: JSONLinesSink? = nil
    ) {
        self.sessionLogSink = sessionLogSink
        self.store = store
        self.trail = store ?? AuditLog(path: auditLog)
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
            // Those waiting in memory first: one the sink writes meanwhile is then in the file, and
            // counted once. Files oldest first: the highest rotation, then down to the live file.
            let waiting = sessionLogSink?.waitingRecords().filter { $0.deviceID == device } ?? []
            let inFiles = try sessionLogFiles.reversed().flatMap { try JSONLinesFile.records($0) }.filter { $0.deviceID == device }
            let logged = inFiles + waiting.filter { !inFiles.contains($0) }
            let spooled = try spoolPath.map { try JSONLinesFile.records($0) }?.filter { $0.deviceID == device } ?? []
            let all = stored + logged + spooled
            return Export(
                deviceID: device, generatedAt: SessionRecord.timestamp(now), from: all.map(\.start).min(), to: all.map(\.end).max(),
                holds: Counts(store: stored.count, sessionLog: logged.count, spool: spooled.count), store: stored,
                sessionLog: logged, spool: spooled)
        }
    }

    /// Erases a device's records everywhere; idempotent (a second call returns zeros). Whoever
    /// asked audits it (`audited`), with the count.
    public func delete(device: String) throws -> Counts {
        try erase {
            $0.deviceID == device
        } store: {
            try $0.delete(device: device)
        }
    }

    /// Erases the records of sessions that ended more than `days` days before `now`, and audit
    /// entries older than `auditDays` days; the trail notes the records' erasure (actor `relay`).
    public func purge(olderThanDays days: Int, auditDays: Int, now: Date = Date()) throws -> (records: Counts, audit: Int) {
        let cutoff = SessionRecord.timestamp(now.addingTimeInterval(-Double(days) * 86_400))
        let counts = try erase {
            $0.end < cutoff
        } store: {
            try $0.purge(endedBefore: cutoff)
        }
        if counts.total > 0 {
            try trail.append(AuditEntry(at: SessionRecord.timestamp(now), actor: "relay", action: "retention", records: counts.total))
        }
        let audit = try trail.purgeAudit(before: SessionRecord.timestamp(now.addingTimeInterval(-Double(auditDays) * 86_400)))
        return (counts, audit)
    }

    func erase(where remove: (SessionRecord) -> Bool, store erase: (any SessionStore) throws -> Int) throws -> Counts {
        try exclusively {
            var counts = Counts()
            if let store { counts.store = try erase(store) }
            // Those waiting first: one written meanwhile is in the file when it is edited.
            counts.sessionLog += sessionLogSink?.removeWaiting(where: remove) ?? 0
            for file in sessionLogFiles { counts.sessionLog += try JSONLinesFile.remove(from: file, where: remove) }
            if let spoolPath { counts.spool = try JSONLinesFile.remove(from: spoolPath, where: remove) }
            return counts
        }
    }

    /// Runs a read or a change of record data on behalf of `actor` and leaves one audit entry for
    /// it: `records` says how many records the result holds; a failure is audited as `failed`
    /// and thrown. The result is only returned once its entry is written (a read that cannot be
    /// audited is not answered).
    public func audited<T>(
        actor: String, action: String, device: String?, now: Date = Date(), records: (T) -> Int, _ body: () throws -> T
    ) throws -> T {
        let result: T
        do {
            result = try body()
        } catch {
            try trail.append(
                AuditEntry(at: SessionRecord.timestamp(now), actor: actor, action: action, device: device, records: 0, outcome: "failed"))
            throw error
        }
        try trail.append(
            AuditEntry(at: SessionRecord.timestamp(now), actor: actor, action: action, device: device, records: records(result)))
        return result
    }
}
