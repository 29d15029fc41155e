/// MAPPED-ADDRESS and XOR-*-ADDRESS values (RFC 8489 §14.1, §14.2).
public enum STUNAddressCodec {
    /// Size of an encoded value for a family.
    public static func encodedSize(_ family: AddressFamily) -> Int { family == .ipv4 ? 8 : 20 }

    public static func decode(_ v: ArraySlice<UInt8>) -> TransportAddress? {
        guard v.count >= 4, let family = AddressFamily(rawValue: v[v.startIndex + 1]) else { return nil }
        guard v.count == encodedSize(family) else { return nil }
        let port = UInt16(v[v.startIndex + 2]) << 8 | UInt16(v[v.startIndex + 3])
        guard let ip = IPAddress(bytes: v.dropFirst(4)) else { return nil }
        return TransportAddress(ip: ip, port: port)
    }

    public static func decodeXOR(_ v: ArraySlice<UInt8>, transactionID: TransactionID) -> TransportAddress? {
        guard let plain = decode(v) else { return nil }
        return xor(plain, transactionID: transactionID)
    }

    /// X-Port is the port XOR the cookie's top half; X-Address is the address XOR the cookie
    /// (IPv4) or the cookie followed by the transaction id (IPv6). The mapping is its own inverse.
    public static func xor(_ a: TransportAddress, transactionID: TransactionID) -> TransportAddress {
        let port = a.port ^ UInt16(STUNHeader.magicCookie >> 16)
        switch a.ip {
        case .v4(let v):
            return TransportAddress(ip: .v4(v ^ STUNHeader.magicCookie), port: port)
        case .v6(let hi, let lo):
            let keyHi = UInt64(STUNHeader.magicCookie) << 32 | UInt64(transactionID.hi)
            return TransportAddress(ip: .v6(hi: hi ^ keyHi, lo: lo ^ transactionID.lo), port: port)
        }
    }

    /// Writes the (already XOR-ed, if wanted) value into `out` at `offset`; returns bytes written.
    @discardableResult
    public static func write(_ a: TransportAddress, into out: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        out[offset] = 0
        out[offset + 1] = a.family.rawValue
        out.storeBigEndian(a.port, at: offset + 2)
        switch a.ip {
        case .v4(let v):
            out.storeBigEndian(v, at: offset + 4)
            return 8
        case .v6(let hi, let lo):
            out.storeBigEndian(hi, at: offset + 4)
            out.storeBigEndian(lo, at: offset + 12)
            return 20
        }
    }

    public static func encode(_ a: TransportAddress) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: encodedSize(a.family))
        out.withUnsafeMutableBytes { _ = write(a, into: $0, at: 0) }
        return out
    }
}
