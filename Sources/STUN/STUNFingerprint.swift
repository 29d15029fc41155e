/// FINGERPRINT (RFC 8489 §14.7): CRC-32 (ISO 3309 / ITU-T V.42, as in zlib) of the message up to
/// the attribute, with the header's length covering the FINGERPRINT, XOR-ed with 0x5354554E.
public enum STUNFingerprint {
    static let xorValue: UInt32 = 0x5354_554E

    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// CRC-32 of `bytes`, continuing from `crc` (pass 0 to start).
    public static func crc32(_ bytes: UnsafeRawBufferPointer, crc: UInt32 = 0) -> UInt32 {
        var c = ~crc
        table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return ~c
    }

    /// The FINGERPRINT value for a message whose FINGERPRINT attribute starts at `attributeOffset`.
    public static func compute(_ message: UnsafeRawBufferPointer, attributeOffset: Int) -> UInt32 {
        // The header as it was when the fingerprint was computed: length covers the attribute.
        var crc = crc32(UnsafeRawBufferPointer(rebasing: message[0..<2]))
        var length = UInt16(truncatingIfNeeded: attributeOffset + 8 - STUNHeader.size).bigEndian
        crc = withUnsafeBytes(of: &length) { crc32($0, crc: crc) }
        crc = crc32(UnsafeRawBufferPointer(rebasing: message[4..<attributeOffset]), crc: crc)
        return crc ^ xorValue
    }
}
