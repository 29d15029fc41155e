/// What a receiver measures on one RTP stream (RFC 3550 §6.4.1 and A.8).
struct StreamStats {
    let clockRate: Double
    var packets = 0
    var bytes = 0
    var baseSequence: UInt32?
    var highestExtended: UInt32 = 0
    var cycles: UInt32 = 0
    var jitter = 0.0  // in timestamp units
    var lastTransit: Double?
    var delays: [Double] = []
    var framesDecoded = 0
    /// Frames that arrived with every packet (audio: every packet is a frame).
    var framesComplete = 0
    var decodeErrors = 0

    init(clockRate: Double) { self.clockRate = clockRate }

    /// One packet: its sequence number, RTP timestamp, arrival (seconds) and one-way delay (ms).
    mutating func record(sequence: UInt16, timestamp: UInt32, arrival: Double, delayMillis: Double?, size: Int) {
        packets += 1
        bytes += size
        if baseSequence == nil {
            baseSequence = UInt32(sequence)
            highestExtended = UInt32(sequence)
        } else {
            let highest = UInt16(truncatingIfNeeded: highestExtended)
            let delta = sequence &- highest
            if delta != 0 && delta < 0x8000 {  // in order, possibly wrapping
                if sequence < highest { cycles += 1 << 16 }
                highestExtended = cycles | UInt32(sequence)
            }
        }
        let transit = arrival * clockRate - Double(timestamp)
        if let last = lastTransit {
            var d = transit - last
            if d < 0 { d = -d }
            jitter += (d - jitter) / 16
        }
        lastTransit = transit
        if let delayMillis { delays.append(delayMillis) }
    }

    var expected: Int { baseSequence.map { Int(highestExtended) - Int($0) + 1 } ?? 0 }
    var lost: Int { max(0, expected - packets) }
    var lossPercent: Double { expected > 0 ? 100 * Double(lost) / Double(expected) : 0 }
    var jitterMillis: Double { 1000 * jitter / clockRate }
}

func percentile(_ values: [Double], _ p: Double) -> Double? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p + 0.5))]
}
