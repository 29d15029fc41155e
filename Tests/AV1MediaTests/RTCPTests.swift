import Testing

@testable import AV1Media

@Suite("RTCP: sender and receiver reports, PLI")
struct RTCPTests {
    static let blocks = [
        RTCP.ReportBlock(
            ssrc: 0xA1A2_A3A4, fractionLost: 0x40, cumulativeLost: 0x12_3456, extendedHighestSequence: 0x0001_FFFE, jitter: 321),
        RTCP.ReportBlock(
            ssrc: 0xB1B2_B3B4, fractionLost: 0, cumulativeLost: -3, extendedHighestSequence: 7, jitter: 0, lastSenderReport: 0xCCDD_EEFF,
            delaySinceLastSenderReport: 0x0001_8000),
    ]

    /// RFC 3550 §6.4.1: header (V=2, P=0, RC, PT=200, length in words minus one), SSRC, NTP
    /// timestamp most significant word first, RTP timestamp, packet count, octet count.
    @Test func senderReportLayout() {
        let sr = RTCP.SenderReport(
            ssrc: 0x1122_3344, ntpTimestamp: 0xAABB_CCDD_EEFF_0011, rtpTimestamp: 0x0102_0304, packetCount: 5, octetCount: 0x0A0B)
        #expect(
            sr.bytes == [
                0x80, 200, 0x00, 0x06, 0x11, 0x22, 0x33, 0x44, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF, 0x00, 0x11, 0x01, 0x02, 0x03, 0x04,
                0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x0A, 0x0B,
            ])
    }

    /// RFC 3550 §6.4.1: each block is SSRC_n, fraction lost (8 bits) with cumulative lost
    /// (signed 24 bits), extended highest sequence, jitter, LSR, DLSR.
    @Test func reportBlockLayout() {
        let sr = RTCP.SenderReport(ssrc: 1, ntpTimestamp: 0, rtpTimestamp: 0, packetCount: 0, octetCount: 0, reportBlocks: Self.blocks)
        let b = sr.bytes
        #expect(b.count == 28 + 2 * 24)
        #expect(Array(b[0..<4]) == [0x82, 200, 0x00, 18])  // RC 2; (76 bytes / 4) - 1
        #expect(
            Array(b[28..<52]) == [
                0xA1, 0xA2, 0xA3, 0xA4, 0x40, 0x12, 0x34, 0x56, 0x00, 0x01, 0xFF, 0xFE, 0x00, 0x00, 0x01, 0x41, 0, 0, 0, 0, 0, 0, 0, 0,
            ])
        // -3 in 24-bit two's complement.
        #expect(Array(b[56..<60]) == [0x00, 0xFF, 0xFF, 0xFD])
        #expect(Array(b[68..<76]) == [0xCC, 0xDD, 0xEE, 0xFF, 0x00, 0x01, 0x80, 0x00])
    }

    @Test func senderReportRoundTrips() throws {
        let sr = RTCP.SenderReport(
            ssrc: 0xDEAD_BEEF, ntpTimestamp: RTCP.ntpTimestamp(unixSeconds: 1_800_000_000.75), rtpTimestamp: 0xFFFF_FFF0,
            packetCount: 1234, octetCount: 98_765, reportBlocks: Self.blocks)
        let parsed = try #require(RTCP.SenderReport(sr.bytes))
        #expect(parsed == sr)
        // A compound's later packets are not the first one's business.
        #expect(RTCP.SenderReport(sr.bytes + RTCP.ReceiverReport(ssrc: 9).bytes) == sr)
    }

    /// RFC 3550 §6.4.1: the cumulative count is clamped to the 24-bit signed range, not wrapped.
    @Test(arguments: [
        (Int32(0x7F_FFFF), Int32(0x7F_FFFF)), (0x100_0000, 0x7F_FFFF), (-0x80_0000, -0x80_0000), (-0x100_0000, -0x80_0000), (0, 0),
    ])
    func cumulativeLostIsClamped(given: Int32, carried: Int32) throws {
        let block = RTCP.ReportBlock(ssrc: 1, fractionLost: 0, cumulativeLost: given, extendedHighestSequence: 0, jitter: 0)
        let rr = try #require(RTCP.ReceiverReport(RTCP.ReceiverReport(ssrc: 2, reportBlocks: [block]).bytes))
        #expect(rr.reportBlocks.first?.cumulativeLost == carried)
    }

    /// RFC 3550 §6.4.2: the empty receiver report that opens a feedback compound is two words.
    @Test func receiverReportLayoutAndRoundTrip() throws {
        #expect(RTCP.ReceiverReport(ssrc: 0x0102_0304).bytes == [0x80, 201, 0x00, 0x01, 0x01, 0x02, 0x03, 0x04])
        let rr = RTCP.ReceiverReport(ssrc: 77, reportBlocks: Self.blocks)
        #expect(RTCP.ReceiverReport(rr.bytes) == rr)
        #expect(RTCP.SenderReport(rr.bytes) == nil)  // another packet type
    }

    /// RFC 4585 §6.1 and §6.3.1: V=2, P=0, FMT=1, PT=PSFB (206), length 2, SSRC of the packet
    /// sender, SSRC of the media source, and no feedback control information.
    @Test func pictureLossIndicationLayout() throws {
        let pli = RTCP.PictureLossIndication(senderSSRC: 0x0102_0304, mediaSSRC: 0x0A0B_0C0D)
        #expect(pli.bytes == [0x81, 206, 0x00, 0x02, 0x01, 0x02, 0x03, 0x04, 0x0A, 0x0B, 0x0C, 0x0D])
        #expect(RTCP.PictureLossIndication(pli.bytes) == pli)
        #expect(RTCP.containsPictureLossIndication(pli.bytes))
    }

    /// What the endpoints send: an RR then a PLI (the app asking for a keyframe), and a sender
    /// report per stream (the robot's audio and video).
    @Test func compoundsSplitAndPLIIsFound() throws {
        let rr = RTCP.ReceiverReport(ssrc: 5)
        let pli = RTCP.PictureLossIndication(senderSSRC: 5, mediaSSRC: 6)
        let feedback = rr.bytes + pli.bytes
        let parts = try #require(RTCP.split(feedback))
        #expect(parts.count == 2 && RTCP.ReceiverReport(parts[0]) == rr && RTCP.PictureLossIndication(parts[1]) == pli)
        #expect(RTCP.containsPictureLossIndication(feedback))

        let audio = RTCP.SenderReport(ssrc: 1, ntpTimestamp: 2, rtpTimestamp: 3, packetCount: 4, octetCount: 5, reportBlocks: Self.blocks)
        let video = RTCP.SenderReport(ssrc: 6, ntpTimestamp: 2, rtpTimestamp: 7, packetCount: 8, octetCount: 9)
        let reports = try #require(RTCP.split(audio.bytes + video.bytes))
        #expect(reports.compactMap { RTCP.SenderReport($0) } == [audio, video])
        #expect(!RTCP.containsPictureLossIndication(audio.bytes + video.bytes))
    }

    /// FMT 1 means PLI only under PSFB: under RTPFB (205) it is a generic NACK (RFC 4585 §6.2.1),
    /// and FMT 4 under PSFB is a FIR (RFC 5104 §4.3.1).
    @Test func otherFeedbackIsNotPLI() {
        let rr = RTCP.ReceiverReport(ssrc: 5).bytes
        let nack: [UInt8] = [0x81, 205, 0x00, 0x03, 0, 0, 0, 5, 0, 0, 0, 6, 0x00, 0x10, 0x00, 0x00]
        let fir: [UInt8] = [0x84, 206, 0x00, 0x04, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 6, 1, 0, 0, 0]
        #expect(!RTCP.containsPictureLossIndication(rr + nack))
        #expect(!RTCP.containsPictureLossIndication(rr + fir))
        #expect(RTCP.PictureLossIndication(fir) == nil)
    }

    /// Every prefix of a packet is short until the whole of it is there; no prefix traps.
    @Test func everyPrefixIsShortUntilComplete() {
        let sr = RTCP.SenderReport(ssrc: 1, ntpTimestamp: 2, rtpTimestamp: 3, packetCount: 4, octetCount: 5, reportBlocks: Self.blocks)
        let pli = RTCP.PictureLossIndication(senderSSRC: 1, mediaSSRC: 2)
        let compound = sr.bytes + pli.bytes
        for n in 0..<sr.bytes.count { #expect(RTCP.SenderReport(Array(sr.bytes.prefix(n))) == nil, "\(n) bytes") }
        for n in 0..<pli.bytes.count { #expect(RTCP.PictureLossIndication(Array(pli.bytes.prefix(n))) == nil, "\(n) bytes") }
        for n in 0...compound.count {
            let prefix = Array(compound.prefix(n))
            let whole = n == 0 || n == sr.bytes.count || n == compound.count
            #expect((RTCP.split(prefix) != nil) == whole, "\(n) bytes")
            // The header walk sees the PLI as soon as its header is there.
            #expect(RTCP.containsPictureLossIndication(prefix) == (n >= sr.bytes.count + 4), "\(n) bytes")
        }
    }

    @Test func malformedPacketsAreRejected() {
        var sr = RTCP.SenderReport(ssrc: 1, ntpTimestamp: 2, rtpTimestamp: 3, packetCount: 4, octetCount: 5, reportBlocks: Self.blocks)
            .bytes
        var version1 = sr
        version1[0] = 0x42
        #expect(RTCP.SenderReport(version1) == nil && RTCP.split(version1) == nil)
        // A report count that claims more blocks than the length holds.
        sr[0] = 0x83
        #expect(RTCP.SenderReport(sr) == nil)
    }

    /// RFC 3550 §6.4.1: five bits of report count; blocks past 31 are not written.
    @Test func atMost31ReportBlocks() throws {
        let many = (0..<40).map {
            RTCP.ReportBlock(ssrc: UInt32($0), fractionLost: 0, cumulativeLost: 0, extendedHighestSequence: 0, jitter: 0)
        }
        let bytes = RTCP.ReceiverReport(ssrc: 1, reportBlocks: many).bytes
        #expect(bytes.count == 8 + 31 * 24 && bytes[0] == 0x80 | 31)
        let parsed = try #require(RTCP.ReceiverReport(bytes))
        #expect(parsed.reportBlocks == Array(many.prefix(31)))
    }

    /// RFC 3550 §4: seconds since 1 January 1900 in the high word, the fraction in the low one.
    @Test func ntpTimestamps() {
        let epoch = UInt64(2_208_988_800) << 32  // 1970 in NTP seconds
        #expect(RTCP.ntpTimestamp(unixSeconds: 0) == epoch)
        #expect(RTCP.ntpTimestamp(unixSeconds: 0.5) == epoch | 0x8000_0000)
        #expect(RTCP.ntpTimestamp(unixSeconds: 1_700_000_000.25) == UInt64(1_700_000_000 + 2_208_988_800) << 32 | 0x4000_0000)
        // Era 0 ends on 7 February 2036; the seconds wrap.
        #expect(RTCP.ntpTimestamp(unixSeconds: 2_085_978_496) == 0)
        #expect(RTCP.ntpTimestamp(unixSeconds: .nan) == 0 && RTCP.ntpTimestamp(unixSeconds: .infinity) == 0)
    }
}
