import STUN

/// What one allocation's client sends through the relay, read from what WebRTC leaves in the
/// clear (RFC 7983 demultiplexing), without copying or keeping a payload byte: STUN transaction
/// ids and times for RTT, DTLS handshake progress, and per-SSRC RTP counters. One per allocation
/// of a paired identity; it measures the leg client → relay, so loss before the relay shows.
/// Times are monotonic microseconds.
public struct TrafficAnalyzer: Sendable {
    public struct Stream: Sendable, Codable, Equatable {
        public var ssrc: UInt32
        public var payloadType: UInt8
        public var packets = 0
        public var bytes = 0
        public var duplicates = 0
        public var markers = 0
        var base: UInt32 = 0
        var highest: UInt32 = 0  // extended
        var seen = false
        /// Interarrival jitter in seconds, once the clock rate is known (RFC 3550 A.8).
        public var jitterSeconds = 0.0
        var lastTransitSeconds: Double?
        var firstTimestamp: UInt32 = 0
        public var firstArrival: Int64 = 0
        public var lastArrival: Int64 = 0
        var timestampSpan: Int64 = 0  // extended RTP time since the first packet
        var lastTimestamp: UInt32 = 0
        /// Sequence numbers recently seen, to tell duplicates from late arrivals (bit i: highest − i).
        var recent: UInt64 = 0

        public var expected: Int { seen ? Int(highest) - Int(base) + 1 : 0 }
        public var lost: Int { max(0, expected - (packets - duplicates)) }
        public var durationMillis: Int64 { (lastArrival - firstArrival) / 1000 }

        /// RTP clock rate inferred from timestamps against arrival time: the relay never sees SDP.
        /// Audio (Opus) runs at 48 kHz and video at 90 kHz; the nearer one wins once a second of
        /// the stream has passed.
        public var clockRate: Double? {
            guard durationMillis >= 1000, timestampSpan > 0 else { return nil }
            let rate = Double(timestampSpan) * 1000 / Double(durationMillis)
            // Neither clock (a probe, a data channel in RTP, a stalled sender): no kind.
            guard rate > 24_000 && rate < 135_000 else { return nil }
            return abs(rate - 48_000) < abs(rate - 90_000) ? 48_000 : 90_000
        }

        public var kind: String { clockRate == 90_000 ? "video" : clockRate == 48_000 ? "audio" : "unknown" }
    }

    public var streams: [UInt32: Stream] = [:]
    public var rtcpPackets = 0
    /// The DTLS handshake this side is in (or finished last): when its first hello passed
    /// (ClientHello from the DTLS client, ServerHello from the server), and when this side showed
    /// the handshake complete (see `observeDTLS`).
    public var dtlsStartedAt: Int64?
    public var dtlsCompletedAt: Int64?
    /// Handshakes seen: a hello after a completed handshake starts a new one (a new call).
    public var dtlsHandshakes = 0
    public var stunPackets = 0
    public var otherPackets = 0
    /// Binding requests and responses seen since the last `drainTransactions`, for RTT.
    public var requests: [(TransactionID, Int64)] = []
    public var responses: [(TransactionID, Int64)] = []
    public var lastActivity: Int64 = 0
    /// Mobility (RFC 8016): how often the client moved, and the longest silence a move caused —
    /// from its last packet before the move to its first after (µs).
    public var moves = 0
    public var longestMoveGap: Int64 = 0
    var silentSince: Int64 = 0

    public init() {}

    /// The client moved (RFC 8016): the gap runs from its last packet until its next.
    mutating func moved(now: Int64) {
        moves += 1
        silentSince = lastActivity != 0 ? lastActivity : now
    }

    /// One datagram the client relayed to its peer, at `now` (microseconds).
    public mutating func observe(_ p: UnsafeRawBufferPointer, now: Int64) {
        guard let first = p.first else { return }
        if silentSince != 0 {
            longestMoveGap = max(longestMoveGap, now - silentSince)
            silentSince = 0
        }
        lastActivity = now
        switch first {
        case 0...3:
            stunPackets += 1
            guard p.count >= 20, let header = try? STUNHeader(parsing: p), header.type.method == .binding else { return }
            switch header.type.messageClass {
            case .request: if requests.count < 64 { requests.append((header.transactionID, now)) }
            case .successResponse: if responses.count < 64 { responses.append((header.transactionID, now)) }
            default: break
            }
            observeDTLSInSTUN(p, size: header.messageSize, now: now)
        case 20...63:
            observeDTLS(p, now: now)
        case 128...191:
            guard p.count >= 12 else { return }
            // Keys for SRTP come from a finished DTLS handshake (RFC 5764 §4.2): SRTP or SRTCP
            // from this side after its hello shows the handshake complete, in any version.
            if dtlsStartedAt != nil && dtlsCompletedAt == nil { dtlsCompletedAt = now }
            let pt = p[1] & 0x7F
            if (200...206).contains(Int(p[1])) {  // RTCP (RFC 5761 §4)
                rtcpPackets += 1
                return
            }
            observeRTP(p, payloadType: pt, now: now)
        default:
            otherPackets += 1
        }
    }

    /// DTLS records, one datagram possibly holding several (a flight's ChangeCipherSpec often
    /// follows a handshake record). A handshake starts with this side's first hello in epoch 0
    /// (in the clear in both versions); it is complete from this side at the first of:
    /// - DTLS 1.2 (RFC 6347 §4.1, 13-byte headers): a ChangeCipherSpec record (type 20);
    /// - DTLS 1.3 (RFC 9147 §4): a record with the unified header (first byte 001CSLEE) in epoch 3,
    ///   the application-data keys — 1.3 sends no ChangeCipherSpec, and epoch 2 is the handshake;
    /// - either version: SRTP or SRTCP from this side (see `observe`).
    private mutating func observeDTLS(_ p: UnsafeRawBufferPointer, now: Int64) {
        var at = 0
        while at < p.count {
            let first = p[at]
            if first & 0xE0 == 0x20 {
                // Unified header: C (connection id), S (16-bit sequence), L (length present), EE
                // (low bits of the epoch). Without L the record fills the datagram; with a
                // connection id (whose length was negotiated) the rest cannot be walked.
                if first & 0x03 == 3, dtlsStartedAt != nil, dtlsCompletedAt == nil { dtlsCompletedAt = now }
                guard first & 0x10 == 0, first & 0x04 != 0 else { return }
                let header = 1 + (first & 0x08 != 0 ? 2 : 1) + 2
                guard at + header <= p.count else { return }
                at += header + Int(p.loadBigEndian(UInt16.self, at: at + header - 2))
                continue
            }
            guard at + 13 <= p.count else { return }
            let epoch = p.loadBigEndian(UInt16.self, at: at + 3)
            // Handshake records of later epochs are encrypted: their first byte is no message type.
            if first == 22, epoch == 0, at + 13 < p.count, p[at + 13] == 1 || p[at + 13] == 2 { hello(now: now) }
            if first == 20, dtlsStartedAt != nil, dtlsCompletedAt == nil { dtlsCompletedAt = now }
            at += 13 + Int(p.loadBigEndian(UInt16.self, at: at + 11))
        }
    }

    /// DTLS in STUN (SPED, draft-hancke-webrtc-sped, a Chromium field trial): the handshake rides
    /// in the ICE Binding messages, attribute 0xC070 holding DTLS records, so a side's hello may
    /// never appear as a record of its own. Walks the attributes in place.
    private mutating func observeDTLSInSTUN(_ p: UnsafeRawBufferPointer, size: Int, now: Int64) {
        var at = STUNHeader.size
        let end = Swift.min(size, p.count)
        while at + 4 <= end {
            let type = p.loadBigEndian(UInt16.self, at: at)
            let length = Int(p.loadBigEndian(UInt16.self, at: at + 2))
            guard length <= end - at - 4 else { return }
            if type == Self.dtlsInSTUN, length > 0 {
                observeDTLS(UnsafeRawBufferPointer(rebasing: p[(at + 4)..<(at + 4 + length)]), now: now)
            }
            at += 4 + (length + 3) & ~3
        }
    }

    static let dtlsInSTUN: UInt16 = 0xC070

    /// A ClientHello or ServerHello: the first of a handshake (retransmissions, and the second
    /// ClientHello after a HelloVerifyRequest, belong to it), or a new handshake once one has
    /// completed.
    private mutating func hello(now: Int64) {
        if dtlsStartedAt == nil || dtlsCompletedAt != nil {
            dtlsStartedAt = now
            dtlsCompletedAt = nil
            dtlsHandshakes += 1
        }
    }

    private mutating func observeRTP(_ p: UnsafeRawBufferPointer, payloadType: UInt8, now: Int64) {
        let ssrc = p.loadBigEndian(UInt32.self, at: 8)
        let sequence = p.loadBigEndian(UInt16.self, at: 2)
        let timestamp = p.loadBigEndian(UInt32.self, at: 4)
        // In place (the dictionary's modify accessor): no copy of the stream per packet.
        Self.update(
            &streams[ssrc, default: Stream(ssrc: ssrc, payloadType: payloadType)], sequence: sequence, timestamp: timestamp,
            marker: p[1] & 0x80 != 0, size: p.count, now: now)
    }

    private static func update(_ s: inout Stream, sequence: UInt16, timestamp: UInt32, marker: Bool, size: Int, now: Int64) {
        s.packets += 1
        s.bytes += size
        if marker { s.markers += 1 }
        if !s.seen {
            s.seen = true
            s.base = UInt32(sequence)
            s.highest = UInt32(sequence)
            s.recent = 1
            s.firstTimestamp = timestamp
            s.lastTimestamp = timestamp
            s.firstArrival = now
        } else {
            // Extend the sequence number against the highest seen (RFC 3550 A.1): ahead by less than
            // half the space is new, behind is late (or a duplicate).
            let highest16 = UInt16(truncatingIfNeeded: s.highest)
            let ahead = sequence &- highest16
            if ahead != 0 && ahead < 0x8000 {
                s.highest += UInt32(ahead)
                s.recent = ahead >= 64 ? 1 : (s.recent << UInt64(ahead)) | 1
            } else {
                let behind = Int(highest16 &- sequence)
                if behind < 64 {
                    if s.recent & (1 << UInt64(behind)) != 0 { s.duplicates += 1 } else { s.recent |= 1 << UInt64(behind) }
                }
            }
        }
        // This packet's RTP time, extended, relative to the stream's first packet.
        let step = Int64(Int32(bitPattern: timestamp &- s.lastTimestamp))
        let extendedTimestamp = s.timestampSpan + step
        if step > 0 {
            s.timestampSpan = extendedTimestamp
            s.lastTimestamp = timestamp
        }
        s.lastArrival = now
        if let rate = s.clockRate {
            let transit = Double(now) / 1_000_000 - Double(extendedTimestamp) / rate
            if let last = s.lastTransitSeconds { s.jitterSeconds += (abs(transit - last) - s.jitterSeconds) / 16 }
            s.lastTransitSeconds = transit
        }
    }

    /// Hands over the Binding transactions seen since the last call.
    public mutating func drainTransactions() -> (requests: [(TransactionID, Int64)], responses: [(TransactionID, Int64)]) {
        defer {
            requests.removeAll(keepingCapacity: true)
            responses.removeAll(keepingCapacity: true)
        }
        return (requests, responses)
    }
}
