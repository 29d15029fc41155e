import FuzzSupport
import STUN
import TestSupport

@testable import TURN

// Session analytics and link telemetry (issue 13): whatever a client relays, the analyzer's
// figures stay sane, and a telemetry attribute that decodes encodes back to itself.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAnalyzer(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    check(UnsafeRawBufferPointer(start: start, count: count))
    return 0
}

func check(_ data: UnsafeRawBufferPointer) {
    var r = FuzzReader(data)
    var analyzer = TrafficAnalyzer()
    var now: Int64 = 1_000_000
    while !r.isEmpty {
        let step = r.byte()
        let packet = r.run()
        if step & 0x80 != 0 {
            if let t = LinkTelemetry(encoded: packet) {
                precondition(LinkTelemetry(encoded: t.encoded) == t, "telemetry does not round-trip")
            }
            continue
        }
        if step & 0x40 != 0 { analyzer.moved(now: now) }
        packet.withUnsafeBytes { analyzer.observe($0, now: now) }
        now += Int64(step & 0x3F) * 1000
    }
    _ = analyzer.drainTransactions()
    for s in analyzer.streams.values {
        precondition(s.packets >= s.duplicates && s.lost >= 0 && s.expected >= 0, "impossible stream counts")
        precondition(s.jitterSeconds.isFinite && s.jitterSeconds >= 0, "jitter \(s.jitterSeconds)")
        precondition(s.durationMillis >= 0)
        _ = s.kind
    }
    precondition(analyzer.longestMoveGap >= 0)
}

func seeds() -> [[UInt8]] {
    let rtp: (UInt8, UInt16, UInt32) -> [UInt8] = { pt, seq, ts in
        [
            0x80, pt, UInt8(seq >> 8), UInt8(seq & 0xFF), UInt8(ts >> 24), UInt8(ts >> 16 & 0xFF), UInt8(ts >> 8 & 0xFF), UInt8(ts & 0xFF),
            0, 0, 0, 7,
        ]
            + [UInt8](repeating: 0, count: 20)
    }
    var audio: [UInt8] = []
    for i in 0..<20 { audio += [20] + [32] + rtp(111, UInt16(i), UInt32(i) * 960) }
    let telemetry = LinkTelemetry(wifiRSSI: -60, wifiBand: 2)
    let dtls: [UInt8] = [22, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    return [audio, [0x80, UInt8(telemetry.encoded.count)] + telemetry.encoded, [10, UInt8(dtls.count)] + dtls]
}

@main
struct Main {
    static func main() { FuzzMain.main(fuzzAnalyzer, seeds: seeds, check) }
}
