import Foundation

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
public final class JSONLinesSink: SessionSink, @unchecked Sendable {  // `lock` guards the handle
    public let path: String
    let maxBytes: Int
    public let keep: Int
    private let lock = NSLock()
    private var handle: FileHandle
    private var size: Int

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public init(path: String, maxBytes: Int = 64 << 20, keep: Int = 5) throws {
        self.path = path
        self.maxBytes = maxBytes
        self.keep = max(1, keep)
        (handle, size) = try JSONLinesSink.open(path)
    }

    deinit { try? handle.close() }

    static func open(_ path: String) throws -> (FileHandle, Int) {
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o640]) else {
                throw Failure(description: "cannot create \(path)")
            }
        }
        guard let h = FileHandle(forWritingAtPath: path) else { throw Failure(description: "cannot open \(path) for writing") }
        let end = try h.seekToEnd()
        return (h, Int(end))
    }

    public func write(_ record: SessionRecord) throws {
        let line = try record.jsonLine()
        try lock.withLock {
            if size > 0 && size + line.count > maxBytes { try rotate() }
            try JSONLinesFile.locked(handle.fileDescriptor) {
                size = Int(try handle.seekToEnd())
                try handle.write(contentsOf: line)
                try handle.synchronize()
                size += line.count
            }
        }
    }

    private func rotate() throws {
        try handle.close()
        let fm = FileManager.default
        try? fm.removeItem(atPath: "\(path).\(keep)")
        for i in stride(from: keep - 1, through: 1, by: -1) where fm.fileExists(atPath: "\(path).\(i)") {
            try fm.moveItem(atPath: "\(path).\(i)", toPath: "\(path).\(i + 1)")
        }
        try fm.moveItem(atPath: path, toPath: "\(path).1")
        (handle, size) = try JSONLinesSink.open(path)
    }
}
