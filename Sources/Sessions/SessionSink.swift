import Foundation
import Glibc

/// Where session records go.
public protocol SessionSink: Sendable {
    func write(_ record: SessionRecord) throws
    /// Returns once every record written so far is where the sink puts it, or safe on disk.
    func flush()
}

extension SessionSink {
    public func flush() {}
}

extension SessionRecord {
    /// The record as JSON, keys sorted (stable for diffing and grepping): what every sink and
    /// store keeps.
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// One line of JSON Lines.
    public func jsonLine() throws -> Data {
        var data = try json()
        data.append(0x0A)
        return data
    }

    /// ISO 8601 UTC to the millisecond, as records carry their times ("2026-11-29T12:00:00.000Z";
    /// these sort as strings).
    public static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}

/// JSON Lines on standard output.
public struct StandardOutputSink: SessionSink {
    public init() {}
    public func write(_ record: SessionRecord) throws {
        FileHandle.standardOutput.write(try record.jsonLine())
    }
}

/// JSON Lines in a file: every record is flushed to disk (fsync) before `write` returns, so a crash
/// loses none that was written; past `maxBytes` the file is rotated to `.1`, `.2`, … keeping `keep`.
/// Each write holds the file's `flock` and appends at its end as it is then, so erasure by another
/// process (`av1relay records delete`, `JSONLinesFile.remove`) may rewrite it in place.
///
/// A file that cannot be written (disk full, read-only, gone) does not stop the relay: records
/// wait in memory, oldest first, up to `backlogLimit`, past which the oldest are dropped and
/// counted; every later write and `retry()` tries again, reopening the file, and writes what
/// waits in order once it can. `report` hears each change of state once, not each failure.
public final class JSONLinesSink: SessionSink, @unchecked Sendable {  // `lock` guards the handle and the backlog
    public let path: String
    let maxBytes: Int
    public let keep: Int
    public let backlogLimit: Int
    let report: @Sendable (Event) -> Void
    private let lock = NSLock()
    /// Nil while the file cannot be opened.
    private var handle: FileHandle?
    private var size = 0
    private var waiting: [Data] = []
    private var failing = false
    private var dropping = false
    /// Records dropped before the episode of failure now running (what it drops is the rest).
    private var droppedBefore = 0
    private var counts = Backlog()
    /// Bytes of a torn last line (a write the process did not live to finish, `kill -9` or power
    /// loss) dropped when the file was last opened: the log stays one record per line.
    public var tornBytesDropped: Int { lock.withLock { torn } }
    private var torn = 0

    /// What the sink tells its owner (to log): each once per change, with counts, never a record.
    public enum Event: Sendable, Equatable {
        /// A torn last line was cut off when the file was opened.
        case tornTailDropped(bytes: Int)
        /// Writing failed; records wait in memory from now on.
        case failing(reason: String)
        /// The backlog is full: the oldest records are being dropped.
        case dropping(limit: Int)
        /// Writing works again; what waited is on disk (`written`), but what this episode dropped.
        case recovered(written: Int, dropped: Int)
    }

    /// Records waiting in memory, dropped past the bound, and failed attempts to write (a record's
    /// own write, or a retry of those waiting).
    public struct Backlog: Sendable, Equatable {
        public var waiting = 0
        public var dropped = 0
        public var failures = 0
        public init() {}
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Throws only when the file's directory does not exist (a configuration error); a file that
    /// cannot be opened now is reported and tried again at every write.
    public init(
        path: String, maxBytes: Int = 64 << 20, keep: Int = 5, backlogLimit: Int = 10_000,
        report: @escaping @Sendable (Event) -> Void = { _ in }
    ) throws {
        self.path = path
        self.maxBytes = maxBytes
        self.keep = max(1, keep)
        self.backlogLimit = max(1, backlogLimit)
        self.report = report
        let directory = (path as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.isEmpty ? "." : directory, isDirectory: &isDirectory), isDirectory.boolValue
        else { throw Failure(description: "no directory \(directory) for \(path)") }
        lock.withLock {
            do { try openLocked() } catch { fail(error) }
        }
    }

    deinit { try? handle?.close() }

    public var backlog: Backlog {
        lock.withLock {
            var b = counts
            b.waiting = waiting.count
            return b
        }
    }

    /// Opens the file (made with mode 0640 when missing) and repairs a torn last line.
    private func openLocked() throws {
        // open(2) itself, so that the reason is its errno. Read and write: the last byte is read
        // back to repair a torn line (writes go to the end).
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw Failure(description: "cannot open \(path) for writing: \(String(cString: strerror(errno)))") }
        let h = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        let dropped = try JSONLinesFile.repairTornTail(h)
        size = Int(try h.seekToEnd())
        handle = h
        torn = dropped
        if dropped > 0 { report(.tornTailDropped(bytes: dropped)) }
    }

    public func write(_ record: SessionRecord) throws {
        let line = try record.jsonLine()
        lock.withLock {
            waiting.append(line)
            if waiting.count > backlogLimit {
                waiting.removeFirst()
                counts.dropped += 1
                if !dropping {
                    dropping = true
                    report(.dropping(limit: backlogLimit))
                }
            }
            drainLocked()
        }
    }

    /// The records waiting in memory, oldest first (a data subject's export includes them).
    public func waitingRecords() -> [SessionRecord] {
        lock.withLock { waiting.compactMap { try? JSONDecoder().decode(SessionRecord.self, from: $0) } }
    }

    /// Erases records waiting in memory, as the file's are erased; returns how many.
    public func removeWaiting(where remove: (SessionRecord) -> Bool) -> Int {
        lock.withLock {
            let before = waiting.count
            waiting.removeAll { line in (try? JSONDecoder().decode(SessionRecord.self, from: line)).map(remove) ?? false }
            return before - waiting.count
        }
    }

    /// Tries again to write the records waiting, if any (the relay calls it every second).
    public func retry() {
        lock.withLock { if !waiting.isEmpty { drainLocked() } }
    }

    public func flush() { retry() }

    /// Writes what waits, oldest first, until the first failure: in batches of up to 256 records
    /// (one, as records come, while the file can be written), one write and one fsync each.
    private func drainLocked() {
        var written = 0
        while !waiting.isEmpty {
            let batch = min(waiting.count, 256)
            do {
                try appendLocked(Data(waiting.prefix(batch).joined()))
            } catch {
                fail(error)
                return
            }
            waiting.removeFirst(batch)
            written += batch
        }
        if failing {
            failing = false
            dropping = false
            report(.recovered(written: written, dropped: counts.dropped - droppedBefore))
        }
    }

    private func fail(_ error: any Error) {
        counts.failures += 1
        if !failing {
            failing = true
            droppedBefore = counts.dropped
            report(.failing(reason: "\(error)"))
        }
    }

    /// Whole lines at the end of the file, fsync'd; a write cut short is cut off again, so a full
    /// disk leaves no torn line behind. After a failure the file is reopened at the next attempt.
    private func appendLocked(_ line: Data) throws {
        do {
            if handle == nil { try openLocked() }
            if size > 0 && size + line.count > maxBytes { try rotate() }
            guard let h = handle else { throw Failure(description: "\(path) is not open") }
            try JSONLinesFile.locked(h.fileDescriptor) {
                let before = Int(try h.seekToEnd())
                size = before
                do {
                    // After a torn write by another process, the next record still starts a line.
                    if before > 0, let last = JSONLinesFile.lastByte(h.fileDescriptor, size: before), last != 0x0A {
                        try h.write(contentsOf: Data([0x0A]))
                    }
                    try h.write(contentsOf: line)
                    try h.synchronize()
                } catch {
                    _ = ftruncate(h.fileDescriptor, off_t(before))
                    throw error
                }
                size = Int(try h.seekToEnd())
            }
        } catch {
            try? handle?.close()
            handle = nil
            throw error
        }
    }

    private func rotate() throws {
        try handle?.close()
        handle = nil
        let fm = FileManager.default
        try? fm.removeItem(atPath: "\(path).\(keep)")
        for i in stride(from: keep - 1, through: 1, by: -1) where fm.fileExists(atPath: "\(path).\(i)") {
            try fm.moveItem(atPath: "\(path).\(i)", toPath: "\(path).\(i + 1)")
        }
        try fm.moveItem(atPath: path, toPath: "\(path).1")
        try openLocked()
    }
}
