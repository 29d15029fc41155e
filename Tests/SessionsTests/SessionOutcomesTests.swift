import Foundation
import Sessions
import Testing

@Suite("Session outcomes for metrics")
struct SessionOutcomesTests {
    static func record(type: String = "final", reason: String? = "robot-left", mos: Double, rttMillis: Double?, audioLoss: Double)
        throws -> SessionRecord
    {
        let rtt = rttMillis.map { #"{"samples":3,"p50":\#($0)}"# } ?? #"{"samples":0}"#
        let json = """
            {"schema":1,"type":"\(type)","session_id":"s","device_id":"d","start":"2026-12-03T10:00:00.000Z",
             "end":"2026-12-03T10:01:00.000Z","duration_s":60,\(reason.map { "\"end_reason\":\"\($0)\"," } ?? "")
             "transports":{"robot":"udp","app":"udp"},
             "directions":{"robot_to_app":{"audio":{"streams":1,"packets":100,"bytes":1,"expected":100,"lost":1,
               "lossPercent":\(audioLoss),"jitterMillis":12,"bitrateKbps":1}},"app_to_robot":{}},
             "rtt_ms":\(rtt),"dtls":{"handshakeSeen":true,"completed":true,"handshakeMillis":180},
             "quality":{"mos":\(mos),"grade":"good","model":"m"},"signal":{"samples":0,"ranges":{}}}
            """
        return try JSONDecoder().decode(SessionRecord.self, from: Data(json.utf8))
    }

    @Test func finalRecordsFillTheBucketsAndInterimOnesDoNot() throws {
        var o = SessionOutcomes()
        o.add(try Self.record(mos: 4.4, rttMillis: 40, audioLoss: 1))
        o.add(try Self.record(reason: "idle", mos: 2.2, rttMillis: nil, audioLoss: 30))
        o.add(try Self.record(type: "interim", reason: nil, mos: 1, rttMillis: 900, audioLoss: 90))
        #expect(o.ended == ["robot-left": 1, "idle": 1])
        #expect(o.mos.count == 2 && o.mos.sum == 4.4 + 2.2)
        // 4.4 is above the highest bound (4.3): the +Inf slot; 2.2 is in (2, 2.5].
        #expect(o.mos.counts.last == 1 && o.mos.counts[o.mos.bounds.firstIndex(of: 2.5)!] == 1)
        #expect(o.rtt.count == 1 && o.rtt.counts[o.rtt.bounds.firstIndex(of: 0.05)!] == 1)
        #expect(o.dtlsHandshake.count == 2 && o.dtlsHandshake.counts[o.dtlsHandshake.bounds.firstIndex(of: 0.25)!] == 2)
        let loss = try #require(o.loss["robot_to_app/audio"])
        #expect(
            loss.count == 2 && loss.counts[loss.bounds.firstIndex(of: 0.01)!] == 1 && loss.counts[loss.bounds.firstIndex(of: 0.5)!] == 1)
        #expect(o.jitter["robot_to_app/audio"]?.counts[SessionOutcomes.jitterBounds.firstIndex(of: 0.02)!] == 2)
        #expect(o.loss["app_to_robot/audio"] == nil)
    }
}
