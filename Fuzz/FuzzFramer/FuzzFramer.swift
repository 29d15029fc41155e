import FuzzSupport
import STUN
import TestSupport

// The stream framer (issue 13): a byte stream cut anywhere frames exactly as it does whole —
// the same frames in the same order, and the same failure at the same place.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFramer(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    check(UnsafeRawBufferPointer(start: start, count: count))
    return 0
}

func frames(of stream: [UInt8], cuts: [Int]) -> (frames: [[UInt8]], failed: Bool, buffered: Int) {
    var framer = StreamFramer()
    var out: [[UInt8]] = []
    var at = 0
    var i = 0
    while at < stream.count {
        let n = min(max(1, cuts.isEmpty ? stream.count : cuts[i % cuts.count]), stream.count - at)
        i += 1
        do {
            try stream[at..<(at + n)].withUnsafeBytes { piece in try framer.append(piece) { out.append(Array($0)) } }
        } catch {
            return (out, true, framer.buffered)
        }
        at += n
    }
    return (out, false, framer.buffered)
}

func check(_ data: UnsafeRawBufferPointer) {
    var reader = FuzzReader(data)
    let cuts = reader.run(max: 16).map { Int($0) + 1 }
    let stream = Array(data.dropFirst(cuts.count + 1))
    let whole = frames(of: stream, cuts: [])
    let cut = frames(of: stream, cuts: cuts)
    precondition(whole.frames == cut.frames && whole.failed == cut.failed, "framing depends on where the stream was cut")
    precondition(cut.buffered <= STUNFraming.maxFrame, "the framer holds more than one frame's worth")
    for f in whole.frames { precondition(f.count >= 4 && f.count <= STUNFraming.maxFrame) }
}

func seeds() -> [[UInt8]] {
    var alice = TestClient(username: "alice", password: "wonderland")
    alice.realm = "av1relay"
    alice.nonce = "obMatJos2wAAAa0nUWCXnc5U"
    let stream = alice.allocate() + TestClient.channelData(0x4000, [1, 2, 3, 4, 5], padded: true) + RFC5769.request
    return [[1, 0] + stream, [3, 2, 7, 19] + stream, [0] + RFC5769.longTermRequest + TestClient.channelData(0x4001, [9], padded: true)]
}

@main
struct Main {
    static func main() { FuzzMain.main(fuzzFramer, seeds: seeds, check) }
}
