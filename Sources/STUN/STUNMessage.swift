/// A parsed STUN message that owns its bytes: the form the control plane works with.
///
/// The data plane never builds one: it walks attributes in place with
/// `STUNHeader.forEachAttribute(in:_:)`.
public struct STUNMessage: Sendable {
    public var header: STUNHeader
    /// The message as received, kept for integrity checks.
    public let bytes: [UInt8]
    /// Attributes in order, up to and including FINGERPRINT; those the RFC says to ignore
    /// (after MESSAGE-INTEGRITY) are not listed.
    public let attributes: [STUNAttributeSlot]

    public var type: STUNMessageType { header.type }
    public var method: STUNMethod { header.type.method }
    public var messageClass: STUNClass { header.type.messageClass }
    public var transactionID: TransactionID { header.transactionID }

    /// Parses one whole message. `nil` means the bytes hold a correct prefix and more are needed;
    /// bytes past the message's end are an error (`lengthMismatch`), as for a datagram.
    public init?(parsing input: UnsafeRawBufferPointer) throws(STUNParseError) {
        guard let header = try STUNHeader(parsing: input) else { return nil }
        guard input.count >= header.messageSize else { return nil }
        guard input.count == header.messageSize else { throw .lengthMismatch }
        var slots: [STUNAttributeSlot] = []
        try header.forEachAttribute(in: input) {
            slots.append($0); return true
        }
        self.header = header
        self.bytes = [UInt8](input)
        self.attributes = slots
    }

    /// Parses a message from an array.
    public init?(parsing input: [UInt8]) throws(STUNParseError) {
        let result: Result<STUNMessage?, STUNParseError> = input.withUnsafeBytes { raw in
            do throws(STUNParseError) { return .success(try STUNMessage(parsing: raw)) } catch { return .failure(error) }
        }
        guard let message = try result.get() else { return nil }
        self = message
    }

    /// The first attribute of a type.
    public func slot(_ type: STUNAttributeType) -> STUNAttributeSlot? {
        attributes.first { $0.type == type }
    }

    public func contains(_ type: STUNAttributeType) -> Bool { slot(type) != nil }

    /// The value bytes of the first attribute of a type.
    public func value(_ type: STUNAttributeType) -> ArraySlice<UInt8>? {
        slot(type).map { bytes[$0.value] }
    }

    /// Values of every attribute of a type, in order.
    public func values(_ type: STUNAttributeType) -> [ArraySlice<UInt8>] {
        attributes.filter { $0.type == type }.map { bytes[$0.value] }
    }

    /// Comprehension-required attributes this implementation does not understand.
    public var unknownComprehensionRequired: [STUNAttributeType] {
        var seen: [STUNAttributeType] = []
        for a in attributes where a.type.isComprehensionRequired && !STUNAttributeType.understood.contains(a.type) {
            if !seen.contains(a.type) { seen.append(a.type) }
        }
        return seen
    }
}

// MARK: - Typed attribute readers

extension STUNMessage {
    /// A UTF-8 text attribute (USERNAME, REALM, NONCE, SOFTWARE).
    public func text(_ type: STUNAttributeType) -> String? {
        value(type).map { String(decoding: $0, as: UTF8.self) }
    }

    /// A 32-bit attribute (LIFETIME, REQUESTED-TRANSPORT, CHANNEL-NUMBER's first half).
    public func uint32(_ type: STUNAttributeType) throws(STUNParseError) -> UInt32? {
        guard let v = value(type) else { return nil }
        guard v.count == 4 else { throw .badAttribute(type) }
        return v.reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// An XOR-encoded address attribute (RFC 8489 §14.2).
    public func xorAddress(_ type: STUNAttributeType) throws(STUNParseError) -> TransportAddress? {
        guard let v = value(type) else { return nil }
        guard let a = STUNAddressCodec.decodeXOR(v, transactionID: transactionID) else { throw .badAttribute(type) }
        return a
    }

    /// Every XOR-PEER-ADDRESS (CreatePermission may carry several, RFC 8656 §9.1).
    public func xorAddresses(_ type: STUNAttributeType) throws(STUNParseError) -> [TransportAddress] {
        var out: [TransportAddress] = []
        for v in values(type) {
            guard let a = STUNAddressCodec.decodeXOR(v, transactionID: transactionID) else { throw .badAttribute(type) }
            out.append(a)
        }
        return out
    }

    /// A plain (non-XOR) address attribute: MAPPED-ADDRESS, ALTERNATE-SERVER (RFC 8489 §14.1).
    public func plainAddress(_ type: STUNAttributeType) throws(STUNParseError) -> TransportAddress? {
        guard let v = value(type) else { return nil }
        guard let a = STUNAddressCodec.decode(v) else { throw .badAttribute(type) }
        return a
    }

    /// ERROR-CODE (RFC 8489 §14.8).
    public func errorCode() throws(STUNParseError) -> (code: Int, reason: String)? {
        guard let v = value(.errorCode) else { return nil }
        guard v.count >= 4 else { throw .badAttribute(.errorCode) }
        let s = v.startIndex
        let code = Int(v[s + 2] & 0x07) * 100 + Int(v[s + 3])
        guard (300...699).contains(code) else { throw .badAttribute(.errorCode) }
        return (code, String(decoding: v.dropFirst(4), as: UTF8.self))
    }

    /// A one-byte family attribute (REQUESTED-ADDRESS-FAMILY, ADDITIONAL-ADDRESS-FAMILY): the raw
    /// family byte, so that a caller can answer 440 for a family it does not know.
    public func familyByte(_ type: STUNAttributeType) throws(STUNParseError) -> UInt8? {
        guard let v = value(type) else { return nil }
        guard v.count == 4 else { throw .badAttribute(type) }
        return v[v.startIndex]
    }

    /// CHANNEL-NUMBER (RFC 8656 §18.1): the number in the first two bytes.
    public func channelNumber() throws(STUNParseError) -> UInt16? {
        guard let v = value(.channelNumber) else { return nil }
        guard v.count == 4 else { throw .badAttribute(.channelNumber) }
        return UInt16(v[v.startIndex]) << 8 | UInt16(v[v.startIndex + 1])
    }

    /// EVEN-PORT (RFC 8656 §18.6): whether the R bit asks to reserve the next port.
    public func evenPort() throws(STUNParseError) -> (reserveNext: Bool, present: Bool) {
        guard let v = value(.evenPort) else { return (false, false) }
        guard v.count == 1 else { throw .badAttribute(.evenPort) }
        return (v[v.startIndex] & 0x80 != 0, true)
    }

    /// RESERVATION-TOKEN (RFC 8656 §18.9): eight bytes.
    public func reservationToken() throws(STUNParseError) -> UInt64? {
        guard let v = value(.reservationToken) else { return nil }
        guard v.count == 8 else { throw .badAttribute(.reservationToken) }
        return v.reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// PASSWORD-ALGORITHMS (RFC 8489 §14.11): the algorithm numbers, parameters dropped.
    public func passwordAlgorithms() throws(STUNParseError) -> [UInt16]? {
        guard let v = value(.passwordAlgorithms) else { return nil }
        var out: [UInt16] = []
        var i = v.startIndex
        while i < v.endIndex {
            guard v.endIndex - i >= 4 else { throw .badAttribute(.passwordAlgorithms) }
            let alg = UInt16(v[i]) << 8 | UInt16(v[i + 1])
            let len = Int(UInt16(v[i + 2]) << 8 | UInt16(v[i + 3]))
            let padded = (len + 3) & ~3
            guard v.endIndex - (i + 4) >= padded else { throw .badAttribute(.passwordAlgorithms) }
            out.append(alg)
            i += 4 + padded
        }
        return out
    }

    /// PASSWORD-ALGORITHM (RFC 8489 §14.12): the algorithm number.
    public func passwordAlgorithm() throws(STUNParseError) -> UInt16? {
        guard let v = value(.passwordAlgorithm) else { return nil }
        guard v.count >= 4 else { throw .badAttribute(.passwordAlgorithm) }
        let len = Int(UInt16(v[v.startIndex + 2]) << 8 | UInt16(v[v.startIndex + 3]))
        guard v.count == 4 + len else { throw .badAttribute(.passwordAlgorithm) }
        return UInt16(v[v.startIndex]) << 8 | UInt16(v[v.startIndex + 1])
    }

    /// UNKNOWN-ATTRIBUTES (RFC 8489 §14.9).
    public func unknownAttributes() throws(STUNParseError) -> [STUNAttributeType]? {
        guard let v = value(.unknownAttributes) else { return nil }
        guard v.count % 2 == 0 else { throw .badAttribute(.unknownAttributes) }
        return stride(from: v.startIndex, to: v.endIndex, by: 2).map {
            STUNAttributeType(UInt16(v[$0]) << 8 | UInt16(v[$0 + 1]))
        }
    }
}
