/// Why bytes are not a well-formed STUN message. Truncated input is not an error: the
/// parsers return `nil` for it ("need more bytes"), which only a stream transport can wait out.
public enum STUNParseError: Error, Hashable, Sendable {
    /// The two most significant bits are not zero (RFC 8489 §5): not STUN at all.
    case notSTUN
    /// The magic cookie is not 0x2112A442 (RFC 8489 §5).
    case badMagicCookie
    /// The message length is not a multiple of four (RFC 8489 §5).
    case unalignedLength
    /// A datagram holds more or fewer bytes than the header's length says.
    case lengthMismatch
    /// An attribute's length runs past the end of the message (RFC 8489 §14).
    case attributeOverrun
    /// FINGERPRINT is not the last attribute, or its value is wrong (RFC 8489 §14.7).
    case badFingerprint
    /// An attribute's value does not have the layout its type requires.
    case badAttribute(STUNAttributeType)
}

/// The fixed 20-byte header (RFC 8489 §5).
public struct STUNHeader: Hashable, Sendable {
    public static let size = 20
    public static let magicCookie: UInt32 = 0x2112_A442

    public var type: STUNMessageType
    /// Bytes of attributes after the header.
    public var length: Int
    public var transactionID: TransactionID

    /// The whole message's size in bytes.
    public var messageSize: Int { STUNHeader.size + length }

    /// Reads a header. `nil` when fewer than 20 bytes are present; throws when they cannot
    /// start a STUN message.
    public init?(parsing bytes: UnsafeRawBufferPointer) throws(STUNParseError) {
        guard bytes.count >= STUNHeader.size else {
            if let first = bytes.first, first & 0xC0 != 0 { throw .notSTUN }
            return nil
        }
        guard bytes[0] & 0xC0 == 0 else { throw .notSTUN }
        guard bytes.loadBigEndian(UInt32.self, at: 4) == STUNHeader.magicCookie else { throw .badMagicCookie }
        let length = Int(bytes.loadBigEndian(UInt16.self, at: 2))
        guard length & 3 == 0 else { throw .unalignedLength }
        self.type = STUNMessageType(rawValue: bytes.loadBigEndian(UInt16.self, at: 0))
        self.length = length
        self.transactionID = TransactionID(
            hi: bytes.loadBigEndian(UInt32.self, at: 8), lo: bytes.loadBigEndian(UInt64.self, at: 12))
    }
}

/// Where one attribute sits in a message.
public struct STUNAttributeSlot: Hashable, Sendable {
    public var type: STUNAttributeType
    /// Offset of the attribute's 4-byte header from the start of the message.
    public var offset: Int
    /// The value's bytes, as offsets from the start of the message (padding excluded).
    public var value: Range<Int>
}

extension STUNHeader {
    /// Walks the attributes of a complete message held in `message` (exactly `messageSize` bytes),
    /// checking their framing and the RFC 8489 §14 ordering rules: attributes after
    /// MESSAGE-INTEGRITY other than MESSAGE-INTEGRITY-SHA256 and FINGERPRINT, and after
    /// MESSAGE-INTEGRITY-SHA256 other than FINGERPRINT, are ignored; FINGERPRINT must be last
    /// and correct. `body` returns `false` to stop early. Allocates nothing.
    public func forEachAttribute(
        in message: UnsafeRawBufferPointer, _ body: (STUNAttributeSlot) -> Bool
    ) throws(STUNParseError) {
        guard message.count == messageSize else { throw .lengthMismatch }
        var offset = STUNHeader.size
        var sawIntegrity = false
        var sawIntegritySHA256 = false
        while offset < message.count {
            guard message.count - offset >= 4 else { throw .attributeOverrun }
            let type = STUNAttributeType(message.loadBigEndian(UInt16.self, at: offset))
            let length = Int(message.loadBigEndian(UInt16.self, at: offset + 2))
            let valueStart = offset + 4
            let padded = (length + 3) & ~3
            guard message.count - valueStart >= padded else { throw .attributeOverrun }
            let slot = STUNAttributeSlot(type: type, offset: offset, value: valueStart..<(valueStart + length))
            offset = valueStart + padded
            if type == .fingerprint {
                guard offset == message.count, length == 4 else { throw .badFingerprint }
                guard message.loadBigEndian(UInt32.self, at: valueStart) == STUNFingerprint.compute(message, attributeOffset: slot.offset)
                else { throw .badFingerprint }
                _ = body(slot)
                return
            }
            if sawIntegritySHA256 { continue }
            if sawIntegrity && type != .messageIntegritySHA256 { continue }
            if type == .messageIntegrity {
                guard length == 20 else { throw .badAttribute(type) }
                sawIntegrity = true
            } else if type == .messageIntegritySHA256 {
                guard length >= 16, length <= 32, length & 3 == 0 else { throw .badAttribute(type) }
                sawIntegritySHA256 = true
            }
            if !body(slot) { return }
        }
    }
}

extension UnsafeRawBufferPointer {
    /// Reads a big-endian integer at any alignment. The caller has checked the bounds.
    @inlinable
    public func loadBigEndian<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        T(bigEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}

extension UnsafeMutableRawBufferPointer {
    /// Writes a big-endian integer at any alignment. The caller has checked the bounds.
    @inlinable
    public func storeBigEndian<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: T.self)
    }
}
