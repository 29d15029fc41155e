/// RTCP (RFC 3550 §6) as the av1sim endpoints use it beside their RTP: sender reports with
/// reception report blocks, a receiver report to open a feedback compound, and the picture loss
/// indication of RFC 4585 §6.3.1.
///
/// Each packet builds its `bytes` and parses them back with `init?(_:)`, which returns `nil`
/// for a packet that is short, of another type or not version 2. A compound packet
/// (RFC 3550 §6.1) is packets' bytes one after another; `split(_:)` takes one apart. SRTCP
/// protection is the caller's.
public enum RTCP {
    /// The packet types used here (RFC 3550 §12.1, RFC 4585 §6.1).
    public enum PacketType: UInt8, Sendable {
        /// SR, RFC 3550 §6.4.1.
        case senderReport = 200
        /// RR, RFC 3550 §6.4.2.
        case receiverReport = 201
        /// PSFB, RFC 4585 §6.1: feedback about a payload, such as a PLI.
        case payloadSpecificFeedback = 206
    }

    /// The report count is five bits (RFC 3550 §6.4.1): a report carries at most 31 blocks, and a
    /// sender with more sources puts the rest in further receiver reports. `bytes` writes the
    /// first 31.
    public static let maximumReportBlocks = 31

    /// The 64-bit NTP timestamp (RFC 3550 §4) of a Unix time: seconds since 1900 in the high 32
    /// bits, the fraction of a second in the low 32. The seconds wrap in 2036, which RFC 3550
    /// allows: receivers use differences only. A time that is not finite, or too far from now to
    /// count in 64-bit seconds, gives 0.
    public static func ntpTimestamp(unixSeconds: Double) -> UInt64 {
        let whole = unixSeconds.rounded(.down)
        guard let seconds = Int64(exactly: whole) else { return 0 }
        let ntpSeconds = UInt32(truncatingIfNeeded: seconds &+ 2_208_988_800)
        let fraction = UInt32(truncatingIfNeeded: Int64((unixSeconds - whole) * 4_294_967_296))
        return UInt64(ntpSeconds) << 32 | UInt64(fraction)
    }

    /// Splits a compound packet into its packets by their length fields (RFC 3550 §6.1). `nil`
    /// when a packet is not version 2 or its length runs past the end.
    public static func split(_ compound: [UInt8]) -> [[UInt8]]? {
        var packets: [[UInt8]] = []
        var at = 0
        while at < compound.count {
            guard compound.count - at >= 4, compound[at] >> 6 == 2 else { return nil }
            let length = 4 + 4 * (Int(compound[at + 2]) << 8 | Int(compound[at + 3]))
            guard compound.count - at >= length else { return nil }
            packets.append(Array(compound[at..<(at + length)]))
            at += length
        }
        return packets
    }

    /// Whether a compound packet holds a PLI: payload-specific feedback with FMT 1
    /// (RFC 4585 §6.3.1). Reads only the headers, so it answers for a packet whose tail is cut
    /// or whose other packets do not parse.
    public static func containsPictureLossIndication(_ compound: [UInt8]) -> Bool {
        var at = 0
        while compound.count - at >= 4 {
            if compound[at + 1] == PacketType.payloadSpecificFeedback.rawValue && compound[at] & 0x1F == PictureLossIndication.format {
                return true
            }
            at += 4 + 4 * (Int(compound[at + 2]) << 8 | Int(compound[at + 3]))
        }
        return false
    }

    /// A reception report block (RFC 3550 §6.4.1): what one receiver saw of one source.
    public struct ReportBlock: Equatable, Sendable {
        /// SSRC_n: the source this block is about.
        public var ssrc: UInt32
        /// Fraction lost, a fixed-point number with the binary point at the left (lost × 256 /
        /// expected, RFC 3550 §6.4.1 and A.3).
        public var fractionLost: UInt8
        /// Cumulative number of packets lost; negative when duplicates arrived. The field is
        /// signed 24-bit, and RFC 3550 §6.4.1 says to clamp rather than wrap: `bytes` does.
        public var cumulativeLost: Int32
        /// Extended highest sequence number received: the count of sequence number cycles in the
        /// high 16 bits.
        public var extendedHighestSequence: UInt32
        /// Interarrival jitter, in timestamp units (RFC 3550 §6.4.1 and A.8).
        public var jitter: UInt32
        /// LSR: the middle 32 bits of the NTP timestamp of the last SR from this source, 0 if none.
        public var lastSenderReport: UInt32
        /// DLSR: the delay since that SR, in units of 1/65536 s, 0 if none.
        public var delaySinceLastSenderReport: UInt32

        /// Bytes of a block on the wire: six 32-bit words.
        public static let size = 24

        public init(
            ssrc: UInt32, fractionLost: UInt8, cumulativeLost: Int32, extendedHighestSequence: UInt32, jitter: UInt32,
            lastSenderReport: UInt32 = 0, delaySinceLastSenderReport: UInt32 = 0
        ) {
            self.ssrc = ssrc
            self.fractionLost = fractionLost
            self.cumulativeLost = cumulativeLost
            self.extendedHighestSequence = extendedHighestSequence
            self.jitter = jitter
            self.lastSenderReport = lastSenderReport
            self.delaySinceLastSenderReport = delaySinceLastSenderReport
        }

        func write(into out: inout [UInt8]) {
            let lost = UInt32(bitPattern: min(max(cumulativeLost, -0x80_0000), 0x7F_FFFF)) & 0xFF_FFFF
            out.appendBigEndian(ssrc)
            out.appendBigEndian(UInt32(fractionLost) << 24 | lost)
            out.appendBigEndian(extendedHighestSequence)
            out.appendBigEndian(jitter)
            out.appendBigEndian(lastSenderReport)
            out.appendBigEndian(delaySinceLastSenderReport)
        }

        /// Reads a block at `offset`; the caller has checked that 24 bytes are there.
        init(_ b: [UInt8], at offset: Int) {
            ssrc = b.bigEndianUInt32(at: offset)
            let word = b.bigEndianUInt32(at: offset + 4)
            fractionLost = UInt8(word >> 24)
            let lost = word & 0xFF_FFFF
            cumulativeLost = lost & 0x80_0000 != 0 ? Int32(lost) - 0x100_0000 : Int32(lost)
            extendedHighestSequence = b.bigEndianUInt32(at: offset + 8)
            jitter = b.bigEndianUInt32(at: offset + 12)
            lastSenderReport = b.bigEndianUInt32(at: offset + 16)
            delaySinceLastSenderReport = b.bigEndianUInt32(at: offset + 20)
        }
    }

    /// A sender report (RFC 3550 §6.4.1): a sender's NTP and RTP clocks at one instant, so a
    /// receiver can relate RTP time to wall-clock time, its packet and octet counts, and report
    /// blocks for the sources it receives.
    public struct SenderReport: Equatable, Sendable {
        /// SSRC of the sender.
        public var ssrc: UInt32
        /// Wall-clock time when the report was sent, as `RTCP.ntpTimestamp(unixSeconds:)` gives it.
        public var ntpTimestamp: UInt64
        /// The same instant in the units and offset of the RTP timestamps of this sender's stream.
        public var rtpTimestamp: UInt32
        /// RTP packets sent since the stream began.
        public var packetCount: UInt32
        /// Payload octets sent since the stream began (headers and padding not counted).
        public var octetCount: UInt32
        /// What this sender receives, one block per source.
        public var reportBlocks: [ReportBlock]

        public init(
            ssrc: UInt32, ntpTimestamp: UInt64, rtpTimestamp: UInt32, packetCount: UInt32, octetCount: UInt32,
            reportBlocks: [ReportBlock] = []
        ) {
            self.ssrc = ssrc
            self.ntpTimestamp = ntpTimestamp
            self.rtpTimestamp = rtpTimestamp
            self.packetCount = packetCount
            self.octetCount = octetCount
            self.reportBlocks = reportBlocks
        }

        /// Header, sender info and up to `RTCP.maximumReportBlocks` blocks: 28 + 24 × blocks bytes.
        public var bytes: [UInt8] {
            let blocks = reportBlocks.prefix(RTCP.maximumReportBlocks)
            var out = RTCP.header(count: blocks.count, type: .senderReport, bytes: 28 + ReportBlock.size * blocks.count)
            out.appendBigEndian(ssrc)
            out.appendBigEndian(UInt32(truncatingIfNeeded: ntpTimestamp >> 32))
            out.appendBigEndian(UInt32(truncatingIfNeeded: ntpTimestamp))
            out.appendBigEndian(rtpTimestamp)
            out.appendBigEndian(packetCount)
            out.appendBigEndian(octetCount)
            for block in blocks { block.write(into: &out) }
            return out
        }

        /// Parses the sender report at the start of `packet`; bytes past its length (the rest of a
        /// compound) and a profile-specific extension after the blocks are ignored.
        public init?(_ packet: [UInt8]) {
            guard let count = RTCP.reportCount(packet, type: .senderReport, fixedBytes: 28) else { return nil }
            ssrc = packet.bigEndianUInt32(at: 4)
            ntpTimestamp = UInt64(packet.bigEndianUInt32(at: 8)) << 32 | UInt64(packet.bigEndianUInt32(at: 12))
            rtpTimestamp = packet.bigEndianUInt32(at: 16)
            packetCount = packet.bigEndianUInt32(at: 20)
            octetCount = packet.bigEndianUInt32(at: 24)
            reportBlocks = (0..<count).map { ReportBlock(packet, at: 28 + ReportBlock.size * $0) }
        }
    }

    /// A receiver report (RFC 3550 §6.4.2): report blocks from a participant that sends no RTP.
    /// Without blocks it opens a compound that carries only feedback, since RFC 3550 §6.1 has
    /// every compound begin with a report.
    public struct ReceiverReport: Equatable, Sendable {
        /// SSRC of the packet's sender.
        public var ssrc: UInt32
        /// What it receives, one block per source.
        public var reportBlocks: [ReportBlock]

        public init(ssrc: UInt32, reportBlocks: [ReportBlock] = []) {
            self.ssrc = ssrc
            self.reportBlocks = reportBlocks
        }

        /// Header, SSRC and up to `RTCP.maximumReportBlocks` blocks: 8 + 24 × blocks bytes.
        public var bytes: [UInt8] {
            let blocks = reportBlocks.prefix(RTCP.maximumReportBlocks)
            var out = RTCP.header(count: blocks.count, type: .receiverReport, bytes: 8 + ReportBlock.size * blocks.count)
            out.appendBigEndian(ssrc)
            for block in blocks { block.write(into: &out) }
            return out
        }

        /// Parses the receiver report at the start of `packet`, as `SenderReport.init?(_:)` does.
        public init?(_ packet: [UInt8]) {
            guard let count = RTCP.reportCount(packet, type: .receiverReport, fixedBytes: 8) else { return nil }
            ssrc = packet.bigEndianUInt32(at: 4)
            reportBlocks = (0..<count).map { ReportBlock(packet, at: 8 + ReportBlock.size * $0) }
        }
    }

    /// A picture loss indication (RFC 4585 §6.3.1): payload-specific feedback, FMT 1, with no
    /// feedback control information. The receiver has lost pictures it cannot recover from;
    /// the media sender answers with a keyframe.
    public struct PictureLossIndication: Equatable, Sendable {
        /// The FMT value of a PLI (RFC 4585 §6.3).
        public static let format: UInt8 = 1
        /// SSRC of the packet sender: the receiver asking.
        public var senderSSRC: UInt32
        /// SSRC of the media source: the stream whose pictures were lost.
        public var mediaSSRC: UInt32

        public init(senderSSRC: UInt32, mediaSSRC: UInt32) {
            self.senderSSRC = senderSSRC
            self.mediaSSRC = mediaSSRC
        }

        /// The common feedback header of RFC 4585 §6.1 and the two SSRCs: 12 bytes, length 2.
        public var bytes: [UInt8] {
            var out = RTCP.header(count: Int(Self.format), type: .payloadSpecificFeedback, bytes: 12)
            out.appendBigEndian(senderSSRC)
            out.appendBigEndian(mediaSSRC)
            return out
        }

        /// Parses the PLI at the start of `packet`.
        public init?(_ packet: [UInt8]) {
            guard let fields = RTCP.header(of: packet, type: .payloadSpecificFeedback), fields.count == Int(Self.format),
                fields.bytes >= 12
            else { return nil }
            senderSSRC = packet.bigEndianUInt32(at: 4)
            mediaSSRC = packet.bigEndianUInt32(at: 8)
        }
    }

    /// The first word of every packet (RFC 3550 §6.4.1): V=2, no padding, a five-bit count (report
    /// count, or FMT in feedback), the type, and the length in 32-bit words minus one.
    static func header(count: Int, type: PacketType, bytes: Int) -> [UInt8] {
        let words = bytes / 4 - 1
        var out: [UInt8] = [0x80 | UInt8(count & 0x1F), type.rawValue, 0, 0]
        out[2] = UInt8(truncatingIfNeeded: words >> 8)
        out[3] = UInt8(truncatingIfNeeded: words)
        out.reserveCapacity(bytes)
        return out
    }

    /// The count field and the length in bytes of the packet at the start of `packet`: `nil` unless
    /// it is version 2, of `type`, and all there.
    static func header(of packet: [UInt8], type: PacketType) -> (count: Int, bytes: Int)? {
        guard packet.count >= 4, packet[0] >> 6 == 2, packet[1] == type.rawValue else { return nil }
        let bytes = 4 + 4 * (Int(packet[2]) << 8 | Int(packet[3]))
        guard packet.count >= bytes else { return nil }
        return (Int(packet[0] & 0x1F), bytes)
    }

    /// The report count of an SR or RR, once its length is checked to hold `fixedBytes` and the
    /// blocks the count says.
    static func reportCount(_ packet: [UInt8], type: PacketType, fixedBytes: Int) -> Int? {
        guard let fields = header(of: packet, type: type), fields.bytes >= fixedBytes + ReportBlock.size * fields.count else { return nil }
        return fields.count
    }
}

extension Array where Element == UInt8 {
    fileprivate mutating func appendBigEndian(_ v: UInt32) {
        append(UInt8(truncatingIfNeeded: v >> 24))
        append(UInt8(truncatingIfNeeded: v >> 16))
        append(UInt8(truncatingIfNeeded: v >> 8))
        append(UInt8(truncatingIfNeeded: v))
    }

    fileprivate func bigEndianUInt32(at offset: Int) -> UInt32 {
        self[offset..<(offset + 4)].reduce(0) { $0 << 8 | UInt32($1) }
    }
}
