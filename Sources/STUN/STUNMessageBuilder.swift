/// Encodes a STUN message attribute by attribute; the header's length follows each append.
///
/// Control-plane encoder (responses, errors). The data plane writes Data indications and
/// ChannelData straight into its send buffers (`STUNDataPath`).
public struct STUNMessageBuilder: Sendable {
    public private(set) var bytes: [UInt8]

    public init(type: STUNMessageType, transactionID: TransactionID, capacity: Int = 128) {
        bytes = []
        bytes.reserveCapacity(capacity)
        append16(type.rawValue)
        append16(0)
        append32(STUNHeader.magicCookie)
        bytes += transactionID.bytes
    }

    public init(method: STUNMethod, class c: STUNClass, transactionID: TransactionID) {
        self.init(type: STUNMessageType(method: method, class: c), transactionID: transactionID)
    }

    public var transactionID: TransactionID {
        TransactionID(bytes: bytes[8..<20]) ?? TransactionID(hi: 0, lo: 0)
    }

    private mutating func append16(_ v: UInt16) {
        bytes.append(UInt8(v >> 8))
        bytes.append(UInt8(truncatingIfNeeded: v))
    }

    private mutating func append32(_ v: UInt32) {
        append16(UInt16(v >> 16))
        append16(UInt16(truncatingIfNeeded: v))
    }

    private mutating func setLength(_ length: Int) {
        bytes[2] = UInt8(truncatingIfNeeded: length >> 8)
        bytes[3] = UInt8(truncatingIfNeeded: length)
    }

    /// Appends a raw attribute, padding its value to four bytes with zeros.
    public mutating func append(_ type: STUNAttributeType, _ value: some Collection<UInt8>) {
        append16(type.rawValue)
        append16(UInt16(truncatingIfNeeded: value.count))
        bytes += value
        let pad = (4 - value.count % 4) % 4
        if pad > 0 { bytes += repeatElement(0, count: pad) }
        setLength(bytes.count - STUNHeader.size)
    }

    public mutating func append(_ type: STUNAttributeType, text: String) {
        append(type, Array(text.utf8))
    }

    public mutating func append(_ type: STUNAttributeType, uint32 value: UInt32) {
        append(
            type,
            [
                UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8),
                UInt8(truncatingIfNeeded: value),
            ])
    }

    /// An XOR-encoded address (XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS).
    public mutating func append(_ type: STUNAttributeType, xorAddress: TransportAddress) {
        append(type, STUNAddressCodec.encode(STUNAddressCodec.xor(xorAddress, transactionID: transactionID)))
    }

    /// A plain address (MAPPED-ADDRESS, ALTERNATE-SERVER).
    public mutating func append(_ type: STUNAttributeType, address: TransportAddress) {
        append(type, STUNAddressCodec.encode(address))
    }

    /// ERROR-CODE (RFC 8489 §14.8); the reason phrase is cut to 127 characters.
    public mutating func appendErrorCode(_ code: Int, reason: String) {
        var v: [UInt8] = [0, 0, UInt8(code / 100), UInt8(code % 100)]
        v += Array(String(reason.prefix(127)).utf8)
        append(.errorCode, v)
    }

    /// ADDRESS-ERROR-CODE (RFC 8656 §18.12): family, then an error code as in ERROR-CODE.
    public mutating func appendAddressErrorCode(family: AddressFamily, code: Int, reason: String) {
        var v: [UInt8] = [family.rawValue, 0, UInt8(code / 100), UInt8(code % 100)]
        v += Array(String(reason.prefix(127)).utf8)
        append(.addressErrorCode, v)
    }

    public mutating func appendUnknownAttributes(_ types: [STUNAttributeType]) {
        append(.unknownAttributes, types.flatMap { [UInt8($0.rawValue >> 8), UInt8(truncatingIfNeeded: $0.rawValue)] })
    }

    /// PASSWORD-ALGORITHMS (RFC 8489 §14.11) with empty parameters.
    public mutating func appendPasswordAlgorithms(_ algorithms: [PasswordAlgorithm]) {
        append(.passwordAlgorithms, algorithms.flatMap { [UInt8($0.rawValue >> 8), UInt8(truncatingIfNeeded: $0.rawValue), 0, 0] })
    }

    public mutating func appendPasswordAlgorithm(_ algorithm: PasswordAlgorithm) {
        append(.passwordAlgorithm, [UInt8(algorithm.rawValue >> 8), UInt8(truncatingIfNeeded: algorithm.rawValue), 0, 0])
    }

    /// MESSAGE-INTEGRITY (RFC 8489 §14.5): HMAC-SHA1 over the message so far, the length
    /// already counting this attribute.
    public mutating func appendMessageIntegrity(key: [UInt8]) {
        setLength(bytes.count - STUNHeader.size + 24)
        let mac = STUNCrypto.hmacSHA1(key: key, bytes)
        append(.messageIntegrity, mac)
    }

    /// MESSAGE-INTEGRITY-SHA256 (RFC 8489 §14.6), full 32 bytes.
    public mutating func appendMessageIntegritySHA256(key: [UInt8]) {
        setLength(bytes.count - STUNHeader.size + 36)
        let mac = STUNCrypto.hmacSHA256(key: key, bytes)
        append(.messageIntegritySHA256, mac)
    }

    /// FINGERPRINT (RFC 8489 §14.7): last attribute.
    public mutating func appendFingerprint() {
        let offset = bytes.count
        append(.fingerprint, [0, 0, 0, 0])
        let crc = bytes.withUnsafeBytes { STUNFingerprint.compute($0, attributeOffset: offset) }
        bytes[offset + 4] = UInt8(crc >> 24)
        bytes[offset + 5] = UInt8(truncatingIfNeeded: crc >> 16)
        bytes[offset + 6] = UInt8(truncatingIfNeeded: crc >> 8)
        bytes[offset + 7] = UInt8(truncatingIfNeeded: crc)
    }
}
