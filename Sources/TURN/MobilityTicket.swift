import STUN

/// RFC 8016's MOBILITY-TICKET: what the relay tells itself about a mobile allocation, encrypted
/// and authenticated under a key only this relay process holds, so that a client can carry it to
/// a new 5-tuple but can neither read nor change it.
///
/// It names the allocation (the worker that holds it and the allocation's id), the generation
/// (each move spends the ticket it used: an older generation is a replay) and when it expires
/// (with the allocation's lifetime at the time it was issued; every Refresh issues a fresh one).
///
/// On the wire: one AES-256 block (version, worker, 48 bits of the allocation's id, generation,
/// expiry in seconds — unique per issue, so one block is enough), then 8 bytes of HMAC-SHA-256
/// over it, in base64: 32 printable characters. Printable and at most 32 because coturn's
/// `turnutils_uclient -M` keeps a ticket in a 33-byte C string.
public struct MobilityTicket: Equatable, Sendable {
    public var worker: UInt8
    /// The low 48 bits of the allocation's id.
    public var allocation: UInt64
    public var generation: UInt32
    /// Monotonic milliseconds, this process's clock, rounded up to a whole second.
    public var expiry: Int64

    static let version: UInt8 = 1
    public static let size = 32
    static let idMask: UInt64 = 0xFFFF_FFFF_FFFF

    public init(worker: UInt8, allocation: UInt64, generation: UInt32, expiry: Int64) {
        self.worker = worker
        self.allocation = allocation & Self.idMask
        self.generation = generation
        self.expiry = (expiry + 999) / 1000 * 1000
    }

    /// One key for the cipher and one for the MAC, both from the relay's.
    static func keys(_ key: [UInt8]) -> (cipher: [UInt8], mac: [UInt8]) {
        (STUNCrypto.hmacSHA256(key: key, Array("ticket cipher".utf8)), STUNCrypto.hmacSHA256(key: key, Array("ticket mac".utf8)))
    }

    public func sealed(key: [UInt8]) -> [UInt8] {
        var p: [UInt8] = [Self.version, worker]
        p.appendBigEndian(allocation, bytes: 6)
        p.appendBigEndian(UInt64(generation), bytes: 4)
        p.appendBigEndian(UInt64(expiry / 1000), bytes: 4)
        let (cipher, mac) = Self.keys(key)
        let block = STUNCrypto.aes256Block(p, key: cipher, encrypt: true)
        return Array(Base64.encode(block + STUNCrypto.hmacSHA256(key: mac, block).prefix(8)).utf8)
    }

    /// The ticket inside `value`, or nil when it was not sealed by this key (forged, damaged,
    /// another relay's or an earlier run's).
    public init?(opening value: some Collection<UInt8>, key: [UInt8]) {
        guard value.count == Self.size, let raw = Base64.decode(String(decoding: Array(value), as: UTF8.self)), raw.count == 24
        else { return nil }
        let (cipher, mac) = Self.keys(key)
        let block = Array(raw[0..<16])
        guard STUNCrypto.constantTimeEqual(STUNCrypto.hmacSHA256(key: mac, block).prefix(8), raw[16...]) else { return nil }
        let p = STUNCrypto.aes256Block(block, key: cipher, encrypt: false)
        guard p[0] == Self.version else { return nil }
        func read(_ at: Int, _ n: Int) -> UInt64 { p[at..<(at + n)].reduce(0) { $0 << 8 | UInt64($1) } }
        worker = p[1]
        allocation = read(2, 6)
        generation = UInt32(read(8, 4))
        expiry = Int64(read(12, 4)) * 1000
    }

    /// Whether this ticket names `allocation` (by its id).
    func names(_ allocation: Allocation) -> Bool { allocation.legID & Self.idMask == self.allocation }
}

extension [UInt8] {
    /// The low `bytes` bytes of `v`, most significant first.
    mutating func appendBigEndian(_ v: UInt64, bytes: Int) {
        for i in (0..<bytes).reversed() { append(UInt8(truncatingIfNeeded: v >> (8 * i))) }
    }
}
