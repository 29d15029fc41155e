/// RTP packets (RFC 3550 §5.1): the fixed header in the clear, the payload after it.
public struct RTPPacket: Equatable, Sendable {
    public var payloadType: UInt8
    public var marker: Bool
    public var sequence: UInt16
    public var timestamp: UInt32
    public var ssrc: UInt32
    public var payload: [UInt8]
    /// Send time in microseconds since the Unix epoch, in a one-byte RFC 8285 header extension
    /// (id 1, 8 bytes). It is in the clear, as abs-send-time is in WebRTC; receivers get one-way
    /// delay from it when both ends share a clock.
    public var sendTimeMicros: UInt64?

    public init(payloadType: UInt8, marker: Bool, sequence: UInt16, timestamp: UInt32, ssrc: UInt32, payload: [UInt8]) {
        self.payloadType = payloadType
        self.marker = marker
        self.sequence = sequence
        self.timestamp = timestamp
        self.ssrc = ssrc
        self.payload = payload
    }

    public static let headerSize = 12

    public var bytes: [UInt8] {
        let x: UInt8 = sendTimeMicros == nil ? 0 : 0x10
        var out: [UInt8] = [0x80 | x, (marker ? 0x80 : 0) | (payloadType & 0x7F), UInt8(sequence >> 8), UInt8(sequence & 0xFF)]
        out += [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: timestamp >> UInt32($0)) }
        out += [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: ssrc >> UInt32($0)) }
        if let t = sendTimeMicros {
            // 0xBEDE profile, 3 words: element (id 1, length 8) + 8 bytes + 3 bytes padding.
            out += [0xBE, 0xDE, 0x00, 0x03, 0x17]
            out += (0..<8).map { UInt8(truncatingIfNeeded: t >> UInt64(56 - 8 * $0)) }
            out += [0, 0, 0]
        }
        return out + payload
    }

    /// Parses version 2 packets; skips CSRCs and a header extension; strips padding.
    public init?(_ b: [UInt8]) {
        guard b.count >= RTPPacket.headerSize, b[0] >> 6 == 2 else { return nil }
        var offset = RTPPacket.headerSize + Int(b[0] & 0x0F) * 4
        var sendTime: UInt64?
        if b[0] & 0x10 != 0 {
            guard b.count >= offset + 4 else { return nil }
            let words = Int(b[offset + 2]) << 8 | Int(b[offset + 3])
            let start = offset + 4
            offset = start + words * 4
            guard b.count >= offset else { return nil }
            if b[start - 4] == 0xBE && b[start - 3] == 0xDE, words >= 3, b[start] == 0x17 {
                sendTime = b[(start + 1)..<(start + 9)].reduce(0) { $0 << 8 | UInt64($1) }
            }
        }
        var end = b.count
        if b[0] & 0x20 != 0, let pad = b.last { end -= Int(pad) }
        guard offset <= end else { return nil }
        payloadType = b[1] & 0x7F
        marker = b[1] & 0x80 != 0
        sequence = UInt16(b[2]) << 8 | UInt16(b[3])
        timestamp = b[4..<8].reduce(0) { $0 << 8 | UInt32($1) }
        ssrc = b[8..<12].reduce(0) { $0 << 8 | UInt32($1) }
        payload = Array(b[offset..<end])
        sendTimeMicros = sendTime
    }
}

/// VP8 over RTP (RFC 7741): a one-byte payload descriptor (S bit on a frame's first packet,
/// partition 0), the frame split to fit the MTU, the marker bit on its last packet.
public enum VP8Payload {
    public static func packetize(_ frame: [UInt8], maxPayload: Int) -> [[UInt8]] {
        let chunk = max(1, maxPayload - 1)
        var out: [[UInt8]] = []
        var i = 0
        while i < frame.count {
            let end = min(i + chunk, frame.count)
            out.append([i == 0 ? 0x10 : 0x00] + frame[i..<end])
            i = end
        }
        return out
    }

    /// Reassembles frames: packets of one timestamp in sequence order, the first with S set, the
    /// last with the marker; a gap drops the frame.
    public struct Depacketizer {
        var parts: [UInt8] = []
        var timestamp: UInt32?
        var nextSequence: UInt16?
        var broken = false

        public init() {}

        /// Feeds one packet; returns a whole frame when this packet completes one.
        public mutating func push(_ p: RTPPacket) -> [UInt8]? {
            guard let descriptor = p.payload.first else { return nil }
            let start = descriptor & 0x10 != 0
            var offset = 1
            if descriptor & 0x80 != 0 {  // X: extension bits follow
                guard p.payload.count > 1 else { return nil }
                let x = p.payload[1]
                offset += 1
                if x & 0x80 != 0 { offset += p.payload.count > offset && p.payload[offset] & 0x80 != 0 ? 2 : 1 }  // I: PictureID
                if x & 0x40 != 0 { offset += 1 }  // L: TL0PICIDX
                if x & 0x30 != 0 { offset += 1 }  // T/K
            }
            guard offset <= p.payload.count else { return nil }
            if start {
                parts = []
                timestamp = p.timestamp
                broken = false
            } else if timestamp != p.timestamp || nextSequence != p.sequence {
                broken = true
            }
            nextSequence = p.sequence &+ 1
            parts += p.payload[offset...]
            guard p.marker, !broken, timestamp == p.timestamp else { return nil }
            defer { parts = [] }
            return parts
        }
    }
}
