import Foundation
import STUN
import Synchronization
import Testing

@testable import Sessions
@testable import TURN

/// An SRTP-shaped packet: RTP header in the clear, then opaque bytes.
func rtp(seq: UInt16, ts: UInt32, ssrc: UInt32, marker: Bool = false, pt: UInt8 = 111, size: Int = 100) -> [UInt8] {
    var p: [UInt8] = [0x80, (marker ? 0x80 : 0) | pt, UInt8(seq >> 8), UInt8(seq & 0xFF)]
    p += [UInt8(ts >> 24), UInt8((ts >> 16) & 0xFF), UInt8((ts >> 8) & 0xFF), UInt8(ts & 0xFF)]
    p += [UInt8(ssrc >> 24), UInt8((ssrc >> 16) & 0xFF), UInt8((ssrc >> 8) & 0xFF), UInt8(ssrc & 0xFF)]
    return p + [UInt8](repeating: 0xEE, count: max(0, size - 12))
}

extension TrafficAnalyzer {
    /// `t` in milliseconds (the analyzer counts microseconds).
    mutating func feed(_ bytes: [UInt8], at t: Int64) { bytes.withUnsafeBytes { observe($0, now: t * 1000) } }
}

@Suite("Traffic analytics from what is in the clear (DESIGN §5)")
struct AnalyticsTests {
    @Test func audioStreamWithKnownLossAndWrapAround() throws {
        var a = TrafficAnalyzer()
        // 500 packets of 20 ms audio, sequence numbers wrapping past 65535; every 20th lost.
        for i in 0..<500 where i % 20 != 7 {
            a.feed(rtp(seq: UInt16(truncatingIfNeeded: 65_300 + i), ts: UInt32(i * 960), ssrc: 1), at: Int64(i * 20))
        }
        let s = try #require(a.streams[1])
        #expect(s.expected == 500 && s.lost == 25 && s.duplicates == 0)
        #expect(s.clockRate == 48_000 && s.kind == "audio")
        #expect(s.jitterSeconds < 0.0005)  // perfectly paced
    }

    @Test func aStreamWhoseClockDoesNotAdvanceHasNoKind() throws {
        var a = TrafficAnalyzer()
        for i in 0..<5 { a.feed(rtp(seq: UInt16(i), ts: 0, ssrc: 4, pt: 110), at: Int64(i * 1000)) }
        let s = try #require(a.streams[4])
        #expect(s.clockRate == nil && s.kind == "unknown" && s.jitterSeconds == 0)
    }

    @Test func reorderingAndDuplicatesAreNotLoss() throws {
        var a = TrafficAnalyzer()
        let order: [UInt16] = [0, 1, 3, 2, 4, 4, 5, 7, 6, 6, 8, 9]
        for (i, seq) in order.enumerated() { a.feed(rtp(seq: seq, ts: UInt32(seq) * 960, ssrc: 9), at: Int64(i * 20)) }
        let s = try #require(a.streams[9])
        #expect(s.expected == 10 && s.duplicates == 2 && s.lost == 0)
    }

    @Test func videoKindFrameMarkersAndJitter() throws {
        var a = TrafficAnalyzer()
        var seq: UInt16 = 0
        // 15 fps, 3 packets per frame sharing a timestamp, arrival jittered ±4 ms around the schedule.
        for frame in 0..<60 {
            let ts = UInt32(frame * 6000)
            let base = Int64(frame) * 1000 / 15
            for k in 0..<3 {
                let wobble: Int64 = frame % 2 == 0 ? 4 : -4
                a.feed(rtp(seq: seq, ts: ts, ssrc: 2, marker: k == 2, pt: 96, size: 1100), at: base + wobble + Int64(k))
                seq &+= 1
            }
        }
        let s = try #require(a.streams[2])
        #expect(s.kind == "video" && s.clockRate == 90_000)
        #expect(s.markers == 60 && s.lost == 0)
        #expect(s.jitterSeconds > 0.002 && s.jitterSeconds < 0.012, "\(s.jitterSeconds)")
    }

    @Test func demultiplexesEveryFirstByteRange() {
        var a = TrafficAnalyzer()
        var binding = STUNMessageBuilder(method: .binding, class: .request, transactionID: .random())
        binding.append(.priority, uint32: 1)
        a.feed(binding.bytes, at: 1)
        a.feed(STUNMessageBuilder(method: .binding, class: .successResponse, transactionID: .random()).bytes, at: 2)
        a.feed([22, 0xFE, 0xFD] + [UInt8](repeating: 0, count: 10) + [1, 0, 0, 0], at: 3)  // DTLS ClientHello
        // A server's last flight: a handshake record, then ChangeCipherSpec, in one datagram.
        a.feed([22, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 4, 0] + [20, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1, 1], at: 9)
        a.feed([0x80, 200] + [UInt8](repeating: 0, count: 26), at: 10)  // RTCP SR
        a.feed(rtp(seq: 1, ts: 1, ssrc: 5), at: 11)
        for first: UInt8 in [4, 19, 64, 79, 127, 192, 255] { a.feed([first] + [UInt8](repeating: 0, count: 20), at: 12) }
        #expect(a.stunPackets == 2 && a.requests.count == 1 && a.responses.count == 1)
        #expect(a.dtlsStartedAt == 3000 && a.dtlsCompletedAt == 9000 && a.dtlsHandshakes == 1)
        #expect(a.rtcpPackets == 1 && a.streams.count == 1)
        #expect(a.otherPackets == 7)
    }

    @Test(arguments: [
        (0.0, 5.0, 40.0, "good"), (1.0, 10.0, 80.0, "good"), (5.0, 20.0, 100.0, "fair"), (15.0, 40.0, 300.0, "poor"),
    ])
    func qualityScore(loss: Double, jitter: Double, rtt: Double, grade: String) {
        let mos = QualityModel.mos(lossPercent: loss, jitterMillis: jitter, rttMillis: rtt)
        #expect(QualityModel.grade(mos) == grade, "MOS \(mos)")
        #expect(mos >= 1 && mos <= 4.5)
    }
}

@Suite("Sessions and records")
struct SessionRegistryTests {
    /// A leg whose client sent `packets` 20-ms audio packets from `from` (ms), did its DTLS
    /// handshake from `hello` to `done` (µs), and was last active at `last` (ms).
    static func leg(
        _ id: UInt64, _ role: Identity.Role, device: String = "r1", packets: Int = 60, from: Int64 = 0, last: Int64,
        ended: TURNEvent.DeletionReason? = nil, endedAt: Int64? = nil, hello: Int64? = 5000, done: Int64? = 60_000,
        requests: [(TransactionID, Int64)] = [], responses: [(TransactionID, Int64)] = [], video: Bool = false
    ) -> LegReport {
        var a = TrafficAnalyzer()
        for i in 0..<packets {
            if video {
                // 20 fps, 2 packets a frame of 1000 bytes each: 320 kbps.
                a.feed(
                    rtp(seq: UInt16(i), ts: UInt32(i / 2 * 4500), ssrc: UInt32(id), marker: i % 2 == 1, pt: 96, size: 1000),
                    at: from + Int64(i / 2 * 50))
            } else {
                a.feed(rtp(seq: UInt16(i), ts: UInt32(i * 960), ssrc: UInt32(id)), at: from + Int64(i * 20))
            }
        }
        let telemetry = role == .robot ? [LinkTelemetry(wifiRSSI: -60, wifiBand: 2), LinkTelemetry(wifiRSSI: -50, wifiBand: 2)] : []
        return LegReport(
            legID: id, device: device, role: role, transport: role == .robot ? .udp : .tls, startedUnix: 0,
            streams: Array(a.streams.values),
            rtcpPackets: 0, dtlsStartedAt: hello, dtlsCompletedAt: done, requests: requests.map { ($0.0, $0.1 * 1000) },
            responses: responses.map { ($0.0, $0.1 * 1000) }, telemetry: telemetry, lastActivity: last * 1000, ended: ended,
            endedAt: endedAt.map { $0 * 1000 } ?? (ended == nil ? nil : last * 1000))
    }

    @Test func sessionLifecycleWithInterimReconnectAndEnd() throws {
        var settings = SessionRegistry.Settings()
        settings.interimInterval = 10
        settings.idleTimeout = 5
        let r = SessionRegistry(settings: settings)
        let tid = TransactionID.random()
        r.update([Self.leg(1, .robot, last: 1000), Self.leg(2, .app, last: 1000, requests: [(tid, 1000)])])
        #expect(r.tick(now: 1_000_000, unix: 100).isEmpty && r.activeSessions == 1)
        r.update([Self.leg(1, .robot, last: 10_500, responses: [(tid, 1012)]), Self.leg(2, .app, last: 10_500)])
        let interim = r.tick(now: 11_000_000, unix: 110)
        #expect(interim.count == 1 && interim[0].type == "interim" && interim[0].rttMillis.p50 == 12)
        // The app drops and comes back within the idle time: the same session goes on.
        r.update([Self.leg(2, .app, last: 11_000, ended: .connectionClosed)])
        #expect(r.tick(now: 12_000_000, unix: 112).isEmpty)
        r.update([Self.leg(3, .app, last: 14_000), Self.leg(1, .robot, last: 14_000)])
        #expect(r.tick(now: 14_000_000, unix: 114).isEmpty && r.activeSessions == 1)
        // Then the robot leaves for good.
        r.update([Self.leg(1, .robot, last: 15_000, ended: .refreshedToZero)])
        #expect(r.tick(now: 16_000_000, unix: 116).isEmpty)
        let final = r.tick(now: 21_000_000, unix: 121)
        let record = try #require(final.first)
        #expect(record.type == "final" && record.endReason == "robot-left" && record.sessionID == interim[0].sessionID)
        #expect(record.durationSeconds == 21)
        #expect(record.transports == ["robot": "udp", "app": "tls"])
        #expect(record.directions["app_to_robot"]?["audio"]?.streams == 2)  // both app legs counted
        #expect(record.signal.ranges["wifi_rssi_dbm"] == .init(min: -60, avg: -55, max: -50))
        #expect(record.dtls.completed && record.dtls.handshakeMillis == 55)
        #expect(r.activeSessions == 0)
    }

    @Test func noSessionWithoutBothSidesOrTraffic() {
        let r = SessionRegistry()
        r.update([Self.leg(1, .robot, last: 0), Self.leg(2, .app, device: "other", last: 0)])
        #expect(r.tick(now: 0, unix: 0).isEmpty && r.activeSessions == 0)
        r.update([Self.leg(3, .robot, device: "d", packets: 0, last: 0), Self.leg(4, .app, device: "d", packets: 0, last: 0)])
        #expect(r.tick(now: 0, unix: 0).isEmpty && r.activeSessions == 0)
    }

    @Test func idleEndsAndShutdownFlushes() throws {
        var settings = SessionRegistry.Settings()
        settings.idleTimeout = 3
        let r = SessionRegistry(settings: settings)
        r.update([Self.leg(1, .robot, last: 0), Self.leg(2, .app, last: 0)])
        _ = r.tick(now: 0, unix: 0)
        #expect(try #require(r.tick(now: 3_000_000, unix: 3).first).endReason == "idle")
        r.update([Self.leg(5, .robot, device: "x", last: 10_000), Self.leg(6, .app, device: "x", last: 10_000)])
        _ = r.tick(now: 10_000_000, unix: 10)
        #expect(try #require(r.tick(now: 10_001_000, unix: 10, shutdown: true).first).endReason == "shutdown")
    }

    /// The final record of a session of device r1 that went idle after five seconds.
    static func idleRecord() throws -> SessionRecord {
        var settings = SessionRegistry.Settings()
        settings.idleTimeout = 1
        let r = SessionRegistry(settings: settings)
        r.update([Self.leg(1, .robot, last: 0), Self.leg(2, .app, last: 0)])
        _ = r.tick(now: 0, unix: 0)
        return try #require(r.tick(now: 5_000_000, unix: 5).first)
    }

    @Test func recordsCarryNoAddressUsernameOrPayload() throws {
        let record = try Self.idleRecord()
        let text = String(decoding: try record.jsonLine(), as: UTF8.self)
        for forbidden in ["127.0.0.1", "198.51.100", "robot:r1", "app:r1", "username", "ssrc", "\u{EE}"] {
            #expect(!text.contains(forbidden), "\(forbidden)")
        }
        #expect(text.contains("\"schema\":1") && text.contains("\"device_id\":\"r1\""))
    }

    @Test func jsonLinesSinkRotates() throws {
        let dir = NSTemporaryDirectory() + "sessions-sink-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let record = try Self.idleRecord()
        let size = try record.jsonLine().count
        let sink = try JSONLinesSink(path: "\(dir)/s.jsonl", maxBytes: size * 3, keep: 2)
        for _ in 0..<8 { try sink.write(record) }
        let fm = FileManager.default
        #expect(fm.fileExists(atPath: "\(dir)/s.jsonl.1") && fm.fileExists(atPath: "\(dir)/s.jsonl.2"))
        #expect(!fm.fileExists(atPath: "\(dir)/s.jsonl.3"))
        let lines = try String(contentsOfFile: "\(dir)/s.jsonl.1", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        #expect(try JSONDecoder().decode(SessionRecord.self, from: Data(lines[0].utf8)) == record)
    }

    /// Fault (issue 13): a write cut off mid-line (kill -9, power loss) leaves a torn last line.
    /// The next open drops it, so the log stays one record per line; a last record that only lacks
    /// its newline is kept; and a writer that finds a torn tail starts its record on a new line.
    @Test func aTornLastLineIsRepairedAndNeverSwallowsTheNextRecord() throws {
        let dir = NSTemporaryDirectory() + "sessions-torn-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = "\(dir)/s.jsonl"
        let record = try Self.idleRecord()
        let line = try record.jsonLine()
        func lines() throws -> [Substring] { try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") }
        func append(_ d: Data) throws { try JSONLinesFile.append(d, to: path) }

        try append(line + line + line.prefix(line.count / 2))
        let sink = try JSONLinesSink(path: path)
        #expect(sink.tornBytesDropped == line.count / 2)
        try sink.write(record)
        #expect(try lines().count == 3 && (try JSONLinesFile.records(path)).count == 3)

        // Torn behind the open sink's back (another writer cut off): the next record still lands whole.
        try append(line.prefix(10))
        try sink.write(record)
        #expect(try JSONLinesFile.records(path).count == 4)

        // A whole record without its newline is kept, and gets one.
        try? FileManager.default.removeItem(atPath: path)
        try append(line + line.dropLast())
        let again = try JSONLinesSink(path: path)
        #expect(again.tornBytesDropped == 0)
        try again.write(record)
        #expect(try lines().count == 3 && (try JSONLinesFile.records(path)).count == 3)
    }

    /// Fault (issue 13): a session log that cannot be written (here the path is a directory; the
    /// wire test fills a real disk) loses nothing up to the backlog's bound: the failure is
    /// reported once, records wait in memory in order, the oldest past the bound are dropped and
    /// counted, and every waiting record is written, in order, once the file can be opened.
    @Test func aLogThatCannotBeWrittenHoldsRecordsInOrderUpToItsBound() throws {
        let dir = NSTemporaryDirectory() + "sessions-backlog-\(getpid())"
        let path = "\(dir)/s.jsonl"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)  // not a file: writes fail
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let events = Mutex<[JSONLinesSink.Event]>([])
        let sink = try JSONLinesSink(path: path, backlogLimit: 3) { e in events.withLock { $0.append(e) } }
        var records: [SessionRecord] = []
        for i in 0..<5 {
            var r = try Self.idleRecord()
            r.sessionID = "s\(i)"
            records.append(r)
            try sink.write(r)
            sink.retry()
        }
        let failing = events.withLock { $0 }
        #expect(failing.count == 2, "\(failing)")
        if case .failing(let reason) = failing.first { #expect(reason.contains(path)) } else { Issue.record("\(failing)") }
        #expect(failing.last == .dropping(limit: 3))
        #expect(sink.backlog.waiting == 3 && sink.backlog.dropped == 2 && sink.backlog.failures == 1 + 5 + 5)  // the open, 5 writes, 5 retries
        #expect(sink.waitingRecords().map(\.sessionID) == ["s2", "s3", "s4"])
        // An erasure reaches records that wait, as it reaches the file's.
        #expect(sink.removeWaiting { $0.sessionID == "s3" } == 1)

        try FileManager.default.removeItem(atPath: path)
        sink.retry()
        #expect(events.withLock { $0.last } == .recovered(written: 2, dropped: 2))
        #expect(try JSONLinesFile.records(path).map(\.sessionID) == ["s2", "s4"])
        #expect(sink.backlog.waiting == 0)
        try sink.write(records[0])
        #expect(try JSONLinesFile.records(path).map(\.sessionID) == ["s2", "s4", "s0"] && events.withLock { $0.count } == 3)
        // A missing directory is a configuration error, found at start.
        #expect(throws: JSONLinesSink.Failure.self) { try JSONLinesSink(path: "\(dir)/nowhere/s.jsonl") }
    }
}
