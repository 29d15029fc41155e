import Foundation
import Logging
import STUN
import SessionStore
import Sessions
import Testing

@testable import RelayConfig
@testable import RelayServer

/// The running relay's retention (issue 10): what its own sinks hold, by age, with an explicit time.
@Suite("Retention in a running relay")
struct RetentionTests {
    static func record(_ session: String, end: String) throws -> SessionRecord {
        let json = """
            {"schema":1,"type":"final","session_id":"\(session)","device_id":"robot-r","start":"\(end)","end":"\(end)",
             "duration_s":1,"transports":{},"directions":{},"rtt_ms":{"samples":0},"dtls":{"handshakeSeen":false,"completed":false},
             "quality":{"mos":4.4,"grade":"good","model":"m"},"signal":{"samples":0,"ranges":{}}}
            """
        return try JSONDecoder().decode(SessionRecord.self, from: Data(json.utf8))
    }

    @Test func oldRecordsLeaveTheStoreAndTheSessionLog() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("av1relay-retention-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var c = RelayConfiguration()
        c.listen = [TransportAddress("127.0.0.1:0")!]
        c.tcpListen = []
        // A range no other test binds (TestSupport.RelayPortRanges lists the integration suites').
        c.minPort = 31000
        c.maxPort = 31049
        c.statsInterval = 0
        c.stateDirectory = dir
        c.sessionLog = "\(dir)/sessions.jsonl"
        c.retentionDays = 30
        try c.validate()
        let sinks = try RelayServer.openSinks(c)
        let server = try RelayServer(configuration: c, sinks: sinks, logger: Logger(label: "t") { _ in SwiftLogNoOpLogHandler() })
        for r in [try Self.record("old", end: "2026-10-01T00:00:00.000Z"), try Self.record("new", end: "2026-11-30T00:00:00.000Z")] {
            for sink in sinks { try sink.write(r) }
        }
        for sink in sinks { sink.flush() }
        let keeper = server.recordKeeper()
        #expect(keeper.store != nil && keeper.sessionLog == c.sessionLog)
        #expect(try keeper.export(device: "robot-r").holds == .init(store: 2, sessionLog: 2, spool: 0))
        server.applyRetention(now: try #require(ISO8601DateFormatter().date(from: "2026-12-02T00:00:00Z")))
        let after = try keeper.export(device: "robot-r")
        #expect(after.holds == .init(store: 1, sessionLog: 1, spool: 0))
        #expect((after.store + after.sessionLog).allSatisfy { $0.sessionID == "new" })
        #expect(FileManager.default.fileExists(atPath: "\(dir)/sessions.sqlite"))
    }
}
