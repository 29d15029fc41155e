import Testing

@testable import STUN

@Suite("Stream framing (RFC 8656 §12.5, RFC 8489 §6.2.2)")
struct StreamFramingTests {
    /// A stream of two STUN messages and two padded ChannelData messages.
    static let frames: [[UInt8]] = {
        var a = STUNMessageBuilder(method: .binding, class: .request, transactionID: .random())
        a.append(.software, text: "seven!!")
        var b = STUNMessageBuilder(method: .allocate, class: .request, transactionID: .random())
        b.append(.requestedTransport, [17, 0, 0, 0])
        b.appendFingerprint()
        let c: [UInt8] = [0x40, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5, 0, 0, 0]
        let d: [UInt8] = [0x4F, 0xFF, 0x00, 0x00]
        return [a.bytes, c, b.bytes, d]
    }()
    static let stream = frames.flatMap { $0 }

    func run(_ chunks: [[UInt8]]) throws -> [[UInt8]] {
        var framer = StreamFramer()
        var out: [[UInt8]] = []
        for chunk in chunks {
            try chunk.withUnsafeBytes { raw in try framer.append(raw) { out.append(Array($0)) } }
        }
        return out
    }

    @Test func oneByteAtATime() throws {
        #expect(try run(Self.stream.map { [$0] }) == Self.frames)
    }

    @Test func messageByMessageAndAllAtOnce() throws {
        #expect(try run(Self.frames) == Self.frames)
        #expect(try run([Self.stream]) == Self.frames)
    }

    @Test func everySplitInTwoAndThree() throws {
        let s = Self.stream
        for i in 0...s.count {
            #expect(try run([Array(s[..<i]), Array(s[i...])]) == Self.frames, "split at \(i)")
        }
        for i in stride(from: 0, through: s.count, by: 3) {
            for j in stride(from: i, through: s.count, by: 5) {
                #expect(try run([Array(s[..<i]), Array(s[i..<j]), Array(s[j...])]) == Self.frames, "split at \(i), \(j)")
            }
        }
    }

    @Test func garbageIsInvalidAfterTheGoodFrames() {
        var framer = StreamFramer()
        var out = 0
        let bytes = Self.frames[0] + [0x80, 1, 2, 3]
        #expect(throws: StreamFramer.Failure.invalid(.notSTUN)) {
            try bytes.withUnsafeBytes { raw in try framer.append(raw) { _ in out += 1 } }
        }
        #expect(out == 1)
    }

    @Test(arguments: [
        ([0x00, 0x01, 0x00, 0x03] as [UInt8], STUNParseError.unalignedLength),
        ([0x00, 0x01, 0x00, 0x04, 0xDE, 0xAD, 0xBE, 0xEF], .badMagicCookie),
        ([0xC0], .notSTUN),
    ])
    func invalidStarts(bytes: [UInt8], error: STUNParseError) {
        #expect(bytes.withUnsafeBytes { STUNFraming.frame($0) } == .invalid(error))
    }

    @Test func frameReportsNeededSize() {
        let header = Array(Self.frames[2].prefix(8))
        #expect(header.withUnsafeBytes { STUNFraming.frame($0) } == .needMore(Self.frames[2].count))
        #expect(([0x40, 0x00, 0x00] as [UInt8]).withUnsafeBytes { STUNFraming.frame($0) } == .needMore(nil))
        #expect(([0x40, 0x00, 0x00, 0x01] as [UInt8]).withUnsafeBytes { STUNFraming.frame($0) } == .needMore(8))
    }

    @Test func largestFrameCompletesAndBuffersNoMore() throws {
        // ChannelData announcing 65535 bytes, dripped in 1000-byte chunks.
        let frame: [UInt8] = [0x40, 0x00, 0xFF, 0xFF] + Array(repeating: 7, count: 65535) + [0]
        var framer = StreamFramer()
        var out: [[UInt8]] = []
        var i = 0
        while i < frame.count {
            let chunk = Array(frame[i..<min(i + 1000, frame.count)])
            try chunk.withUnsafeBytes { raw in try framer.append(raw) { out.append(Array($0)) } }
            #expect(framer.buffered < STUNFraming.maxFrame)
            i += 1000
        }
        #expect(out == [frame])
        #expect(framer.buffered == 0)
    }
}
