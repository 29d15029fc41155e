import Foundation
import Glibc
import SessionStore
import Sessions
import TestSupport
import Testing

/// A small tmpfs of the test's own, mounted with mount(2) (root only) and detached at the end:
/// a disk the test can fill, or make read-only, under a relay's session log.
final class ScratchDisk {
    let path: String

    /// Whether this process may mount (root, and a kernel that lets it).
    static let available: Bool = {
        guard let probe = try? ScratchDisk(bytes: 1 << 16) else { return false }
        _ = probe
        return true
    }()

    init(bytes: Int) throws {
        path = NSTemporaryDirectory() + "av1relay-disk-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard Glibc.mount("tmpfs", path, "tmpfs", 0, "size=\(bytes),mode=0755") == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: path)
            throw TestError("cannot mount a tmpfs at \(path): \(reason)")
        }
    }

    /// Read-only (only while no file on it is open for writing) or read-write again.
    func remount(readOnly: Bool) throws {
        let flags = UInt(MS_REMOUNT) | (readOnly ? UInt(MS_RDONLY) : 0)
        guard Glibc.mount("tmpfs", path, "tmpfs", flags, nil) == 0 else {
            throw TestError("cannot remount \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Fills what is left of the disk with one file; returns its path (remove it to free the disk).
    func fill() throws -> String {
        let filler = "\(path)/filler"
        let fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw TestError("cannot create \(filler)") }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0x5A, count: 4096)
        while chunk.withUnsafeBytes({ write(fd, $0.baseAddress, 4096) }) > 0 {}
        // Byte by byte into the last partial block, so that nothing at all is left.
        while write(fd, chunk, 1) == 1 {}
        return filler
    }

    deinit {
        umount2(path, Int32(MNT_DETACH))
        try? FileManager.default.removeItem(atPath: path)
    }
}

extension IntegrationSuites {
    /// Faults (issue 13): the session log's disk full, or read-only, under a live call. Relaying
    /// goes on, the failure is logged once and counted, records wait in memory up to
    /// `session-log-backlog` and are written in order when the disk is back; past the bound the
    /// oldest are dropped, counted.
    @Suite(
        "The session log's disk full or read-only", .serialized,
        .enabled(if: ScratchDisk.available, "this process cannot mount a tmpfs (not root, or the kernel refuses)"))
    struct SessionLogFaultTests {
        static func relay(log: String, _ extra: [String] = []) throws -> (Child, metrics: () -> String) {
            let reader = try Admin.token("prometheus", "read")
            let relay = try Interop.relay(
                [
                    "--listen", "127.0.0.1:0", "--tcp-listen", "none", "--auth-secret", "disk-secret", "--pairing", "on",
                    "--session-log", log, "--session-interim", "1", "--session-idle", "2", "--admin-listen", "127.0.0.1:0",
                    "--admin-token", reader.config,
                ] + extra + RelayPortRanges.arguments(RelayPortRanges.sessionRecords))
            let url = "http://127.0.0.1:\(try Admin.port(relay))/metrics"
            return (relay, { (try? Admin.request("GET", url, token: reader.token).body) ?? "" })
        }

        static func call(_ relay: Child, _ device: String, seconds: Int) throws -> Child {
            try Child(
                Binaries.av1sim,
                [
                    "pair", "--relay", "127.0.0.1:\(try Interop.port(relay, "udp"))", "--secret", "disk-secret", "--device", device,
                    "--duration", "\(seconds)", "--width", "160", "--height", "120",
                ] + Interop.av1simMinimumDelivered)
        }

        static func occurrences(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

        @Test func aFullDiskDelaysRecordsAndLosesNone() throws {
            let disk = try ScratchDisk(bytes: 256 << 10)
            let log = "\(disk.path)/sessions.jsonl"
            let (relay, metrics) = try Self.relay(log: log)
            defer { relay.stop() }
            let sim = try Self.call(relay, "robot-disk-1", seconds: 14)
            defer { sim.stop() }
            try #require(
                eventually(seconds: 40) { ((try? sessionLogRecords(log)) ?? []).count >= 2 }, "no records: \(relay.text.suffix(2000))")

            let filler = try disk.fill()
            try #require(relay.waitFor("session log: cannot write", seconds: 20), "\(relay.text.suffix(2000))")
            let relayedAtFailure = Metrics.sum(metrics(), "av1relay_packets_relayed_total")
            // Several interim records wait, and the call is still relayed meanwhile.
            let waited = eventually(seconds: 20) { Metrics.sum(metrics(), "av1relay_session_log_records_waiting") >= 3 }
            #expect(waited, "\(metrics())")
            #expect(Metrics.sum(metrics(), "av1relay_packets_relayed_total") > relayedAtFailure)
            try FileManager.default.removeItem(atPath: filler)
            try #require(relay.waitFor("session log: writing again", seconds: 20), "\(relay.text.suffix(2000))")

            #expect(sim.wait(seconds: 60) == 0, "the call did not go on: \(sim.text.suffix(2000))")
            let ended = eventually(seconds: 30) { ((try? sessionLogRecords(log)) ?? []).contains { $0.type == "final" } }
            try #require(ended, "\(relay.text.suffix(2000))")
            // Nothing lost: one session, its interim records a second apart with no hole where the
            // disk was full (a loaded machine may stretch an interval, not skip several).
            let records = try sessionLogRecords(log)
            #expect(Set(records.map(\.sessionID)).count == 1 && records.filter { $0.type == "final" }.count == 1)
            let ends = records.compactMap { UsageTally.date($0.end) }
            let gaps = zip(ends.dropFirst(), ends).map { $0.timeIntervalSince($1) }
            #expect(gaps.allSatisfy { $0 >= 0 && $0 < 5 }, "gaps between records: \(gaps)")
            let scrape = metrics()
            #expect(Metrics.sum(scrape, "av1relay_session_log_write_failures_total") >= 1, "\(scrape)")
            #expect(Metrics.sum(scrape, "av1relay_session_log_records_dropped_total") == 0, "\(scrape)")
            #expect(Metrics.sum(scrape, "av1relay_session_log_records_waiting") == 0, "\(scrape)")
            // Logged once, however many writes failed.
            #expect(Self.occurrences("session log: cannot write", in: relay.text) == 1, "\(relay.text.suffix(3000))")
        }

        @Test func aReadOnlyDiskKeepsTheNewestRecordsUpToTheBound() throws {
            let disk = try ScratchDisk(bytes: 1 << 20)
            try disk.remount(readOnly: true)
            let log = "\(disk.path)/sessions.jsonl"
            // The relay starts on a log it cannot create: it serves, and says so once.
            let (relay, metrics) = try Self.relay(log: log, ["--session-log-backlog", "3"])
            defer { relay.stop() }
            #expect(relay.text.contains("session log: cannot write") && relay.text.contains("Read-only file system"), "\(relay.text)")
            let sim = try Self.call(relay, "robot-disk-2", seconds: 8)
            defer { sim.stop() }
            try #require(relay.waitFor("session log: backlog full, dropping its oldest records", seconds: 40), "\(relay.text.suffix(2000))")
            #expect(sim.wait(seconds: 60) == 0, "the call did not go on: \(sim.text.suffix(2000))")
            // The final record is among the newest three, waiting.
            let final = eventually(seconds: 30) { Metrics.sum(metrics(), "av1relay_sessions_ended_total") >= 1 }
            #expect(final, "\(metrics())")
            let dropped = Metrics.sum(metrics(), "av1relay_session_log_records_dropped_total")
            #expect(dropped >= 1)
            #expect(Metrics.sum(metrics(), "av1relay_session_log_records_waiting") == 3)

            try disk.remount(readOnly: false)
            try #require(relay.waitFor("session log: writing again", seconds: 20), "\(relay.text.suffix(2000))")
            let records = try sessionLogRecords(log)
            #expect(records.count == 3 && records.last?.type == "final", "\(records.map(\.type))")
            #expect(
                relay.text.contains("records_written=3") && relay.text.contains("records_dropped=\(Int(dropped))"),
                "\(relay.text.suffix(2000))")
            #expect(Self.occurrences("session log: cannot write", in: relay.text) == 1)
            #expect(Self.occurrences("session log: backlog full", in: relay.text) == 1)
        }
    }
}
