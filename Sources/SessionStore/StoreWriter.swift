import Dispatch
import Foundation
import Sessions

/// The records on their way to a store: a `SessionSink` that never waits for the store. Records
/// go through a bounded queue to the store's own thread; when the store fails (slow, down) they
/// wait in a bounded on-disk spool (JSON Lines, fsync'd) and are written, in order and each once,
/// when it is back. While the spool holds anything, new records join it behind the older ones.
public final class StoreWriter: SessionSink, @unchecked Sendable {  // `lock` guards the counters
    public let store: any SessionStore
    /// The spool file; a relay restarted with records in it writes them first.
    public let spoolPath: String
    let spoolMaxBytes: Int
    let capacity: Int
    let retryInterval: DispatchTimeInterval
    let log: @Sendable (_ level: LogLevel, _ message: String, _ counts: [String: Int]) -> Void
    let queue = DispatchQueue(label: "av1relay.session-store")
    private let lock = NSLock()
    private var queued = 0
    private var retryScheduled = false
    private var lost = 0

    public enum LogLevel: Sendable { case notice, warning, error }

    /// What the writer holds and has lost, for logs and tests.
    public struct Backlog: Sendable, Equatable {
        public var queued: Int
        public var spooled: Int
        public var lost: Int

        public init(queued: Int, spooled: Int, lost: Int) {
            self.queued = queued
            self.spooled = spooled
            self.lost = lost
        }
    }

    public init(
        store: any SessionStore, spoolPath: String, spoolMaxBytes: Int = 64 << 20, capacity: Int = 10_000,
        retryInterval: DispatchTimeInterval = .seconds(5),
        log: @escaping @Sendable (_ level: LogLevel, _ message: String, _ counts: [String: Int]) -> Void = { _, _, _ in }
    ) {
        self.store = store
        self.spoolPath = spoolPath
        self.spoolMaxBytes = spoolMaxBytes
        self.capacity = capacity
        self.retryInterval = retryInterval
        self.log = log
        if spoolHoldsRecords { queue.async { self.drainSpool() } }
    }

    /// Hands the record to the store's thread; past the queue's capacity it goes straight to the
    /// spool instead (a write and an fsync on the caller's thread, which is never a worker's).
    public func write(_ record: SessionRecord) throws {
        let admitted = lock.withLock {
            guard queued < capacity else { return false }
            queued += 1
            return true
        }
        guard admitted else {
            queue.async { self.scheduleRetry() }
            return try spool([record])
        }
        queue.async {
            self.deliver([record])
            self.lock.withLock { self.queued -= 1 }
        }
    }

    /// Waits until every record handed over so far is in the store or in the spool.
    public func flush() {
        queue.sync {}
    }

    public var backlog: Backlog {
        let (q, l) = lock.withLock { (queued, lost) }
        return Backlog(queued: q, spooled: spooledCount(), lost: l)
    }

    /// On the store's thread.
    func deliver(_ records: [SessionRecord]) {
        if !spoolHoldsRecords {
            do {
                try store.write(records)
                return
            } catch {
                log(.warning, "session store unavailable, records spooled: \(error)", ["records": records.count])
            }
        }
        try? spool(records)
        scheduleRetry()
    }

    /// Appends to the spool, fsync'd; past its bound the records are lost, and counted.
    func spool(_ records: [SessionRecord]) throws {
        do {
            let data = try records.reduce(into: Data()) { $0.append(try $1.jsonLine()) }
            guard spoolSize + data.count <= spoolMaxBytes else {
                throw StoreError("the spool is full (\(spoolMaxBytes) bytes)")
            }
            try JSONLinesFile.append(data, to: spoolPath)
        } catch {
            let total = lock.withLock {
                lost += records.count
                return lost
            }
            log(.error, "session records lost: \(error)", ["records": records.count, "lost_total": total])
            throw error
        }
    }

    /// The spool file's size in bytes (0 when there is none).
    var spoolSize: Int { (try? FileManager.default.attributesOfItem(atPath: spoolPath)[.size] as? Int) ?? 0 }

    /// Whether the spool has anything in it: its size, not its records (asked per delivery).
    var spoolHoldsRecords: Bool { spoolSize > 0 }

    func spooledCount() -> Int {
        (try? JSONLinesFile.records(spoolPath).count) ?? 0
    }

    /// On the store's thread.
    func scheduleRetry() {
        let already = lock.withLock {
            defer { retryScheduled = true }
            return retryScheduled
        }
        guard !already else { return }
        queue.asyncAfter(deadline: .now() + retryInterval) {
            self.lock.withLock { self.retryScheduled = false }
            self.drainSpool()
        }
    }

    /// Writes the spool to the store, oldest first, and empties it; on failure tries again later.
    /// On the store's thread.
    func drainSpool() {
        do {
            let spooled = try JSONLinesFile.records(spoolPath)
            guard !spooled.isEmpty else { return }
            try store.write(spooled)
            // Only what was read: erasure may have shortened it, nothing else writes here now.
            try JSONLinesFile.remove(from: spoolPath) { _ in true }
            log(.notice, "session store back: spooled records written", ["records": spooled.count])
        } catch {
            log(.warning, "session store still unavailable: \(error)", ["spooled": spooledCount()])
            scheduleRetry()
        }
    }

    /// Runs `body` on the store's thread, between deliveries (erasure and retention use it so that
    /// no record is delivered halfway through them).
    public func exclusively<T>(_ body: () throws -> T) rethrows -> T {
        try queue.sync(execute: body)
    }
}
