import Foundation
import Glibc

/// A JSON Lines file of session records that others may write while it is edited: every writer
/// and editor holds `flock(LOCK_EX)` on the file while it touches it, and a writer appends at the
/// end as it is then (after an edit the file is shorter). Erasure and retention rewrite the file
/// in place, so a process that has it open keeps writing to the same file.
public enum JSONLinesFile {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The file and its rotations (`path`, `path.1`, … `path.keep`) that exist now.
    public static func withRotations(_ path: String, keep: Int) -> [String] {
        ([path] + (1...max(1, keep)).map { "\(path).\($0)" }).filter { FileManager.default.fileExists(atPath: $0) }
    }

    /// Runs `body` with an exclusive lock on the open file `fd`.
    static func locked<T>(_ fd: Int32, _ body: () throws -> T) throws -> T {
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw Failure(description: "cannot lock: \(String(cString: strerror(errno)))") }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    /// Appends `data` to `path` (created with mode 0600), under the lock, fsync'd.
    public static func append(_ data: Data, to path: String) throws {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        try locked(fd) {
            let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: false)
            try handle.write(contentsOf: data)
            try handle.synchronize()
        }
    }

    /// The byte at `size - 1` of the open file `fd`, nil if it cannot be read.
    static func lastByte(_ fd: Int32, size: Int) -> UInt8? {
        var byte: UInt8 = 0
        return pread(fd, &byte, 1, off_t(size - 1)) == 1 ? byte : nil
    }

    /// A file whose last line has no newline was cut mid-write: a last line that is a whole
    /// record gets its newline, anything else after the last newline is cut off. Returns the bytes
    /// dropped. Under the writers' lock.
    public static func repairTornTail(_ handle: FileHandle) throws -> Int {
        let fd = handle.fileDescriptor
        return try locked(fd) {
            let size = Int(try handle.seekToEnd())
            guard size > 0, let last = lastByte(fd, size: size), last != 0x0A else { return 0 }
            try handle.seek(toOffset: 0)
            let data = try handle.readToEnd() ?? Data()
            let start = (data.lastIndex(of: 0x0A) ?? -1) + 1
            let tail = data[start...]
            if (try? JSONDecoder().decode(SessionRecord.self, from: Data(tail))) != nil {
                try handle.seekToEnd()
                try handle.write(contentsOf: Data([0x0A]))
                try handle.synchronize()
                return 0
            }
            guard ftruncate(fd, off_t(start)) == 0 else {
                throw Failure(description: "cannot truncate a torn line: \(String(cString: strerror(errno)))")
            }
            try handle.synchronize()
            try handle.seekToEnd()
            return tail.count
        }
    }

    /// The records of a file, in order (lines that are not records are left out).
    public static func records(_ path: String) throws -> [SessionRecord] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        let decoder = JSONDecoder()
        return data.split(separator: 0x0A).compactMap { try? decoder.decode(SessionRecord.self, from: Data($0)) }
    }

    /// Runs `body` with `path` open for reading and writing, under the writers' lock; nil when
    /// the file does not exist and `create` is false (else it is created with mode 0600).
    public static func editing<T>(_ path: String, create: Bool, _ body: (FileHandle, Int32) throws -> T) throws -> T? {
        let fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0o600)
        guard fd >= 0 else {
            if errno == ENOENT && !create { return nil }
            throw Failure(description: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        return try locked(fd) { try body(FileHandle(fileDescriptor: fd, closeOnDealloc: false), fd) }
    }

    /// Replaces the whole content of the file open as `handle`/`fd` (in place, fsync'd).
    public static func replace(_ handle: FileHandle, _ fd: Int32, with data: Data, path: String) throws {
        try handle.seek(toOffset: 0)
        try handle.write(contentsOf: data)
        guard ftruncate(fd, off_t(data.count)) == 0 else {
            throw Failure(description: "cannot truncate \(path): \(String(cString: strerror(errno)))")
        }
        try handle.synchronize()
    }

    /// Rewrites `path` in place without the records `remove` picks, under the writers' lock, and
    /// returns how many it removed. Lines that are not records are kept as they are.
    @discardableResult
    public static func remove(from path: String, where remove: (SessionRecord) -> Bool) throws -> Int {
        try editing(path, create: false) { handle, fd in
            try handle.seek(toOffset: 0)
            let data = try handle.readToEnd() ?? Data()
            let decoder = JSONDecoder()
            var kept = Data()
            kept.reserveCapacity(data.count)
            var removed = 0
            for line in data.split(separator: 0x0A, omittingEmptySubsequences: true) {
                if let record = try? decoder.decode(SessionRecord.self, from: Data(line)), remove(record) {
                    removed += 1
                    continue
                }
                kept.append(contentsOf: line)
                kept.append(0x0A)
            }
            guard removed > 0 else { return 0 }
            try replace(handle, fd, with: kept, path: path)
            return removed
        } ?? 0
    }
}
