import STUN

/// Requests per source address that cost the relay an answer to a stranger — a 401 challenge,
/// or an Allocate — as a token bucket per IP (issue 13): `rate` a second, up to `burst` at once.
/// Over it, the request is dropped without an answer (`DropReason.rateLimited`). One table per
/// engine, so per worker; at most `capacity` sources, idle ones (a full bucket) swept, and when
/// a flood of spoofed sources fills it anyway it starts over rather than grow.
struct SourceLimiter {
    var rate: Int
    var burst: Int
    static let capacity = 65_536
    private var buckets: [IPAddress: Bucket] = [:]

    struct Bucket {
        var tokens: Int
        var filled: Int64
    }

    init(rate: Int, burst: Int) {
        self.rate = rate
        self.burst = burst
    }

    var isOn: Bool { rate > 0 }
    var sources: Int { buckets.count }

    /// Whether one more request from `ip` may be answered at `now` (ms); takes its token.
    mutating func admit(_ ip: IPAddress, now: Int64) -> Bool {
        guard rate > 0 else { return true }
        var b = buckets[ip] ?? Bucket(tokens: burst, filled: now)
        let earned = (now - b.filled) * Int64(rate) / 1000
        if earned > 0 {
            b.tokens = Int(min(Int64(burst), Int64(b.tokens) + earned))
            b.filled = now
        }
        guard b.tokens > 0 else {
            buckets[ip] = b
            return false
        }
        b.tokens -= 1
        if buckets.count >= Self.capacity && buckets[ip] == nil { buckets.removeAll(keepingCapacity: true) }
        buckets[ip] = b
        return true
    }

    /// Forgets sources whose bucket has filled up again (they are as good as new).
    mutating func sweep(now: Int64) {
        guard !buckets.isEmpty else { return }
        let burst = Int64(self.burst)
        let rate = Int64(self.rate)
        buckets = buckets.filter { Int64($0.value.tokens) + (now - $0.value.filled) * rate / 1000 < burst }
    }
}
