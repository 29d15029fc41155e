/// The packet-path encodings: ChannelData (RFC 8656 §12.4) and Send/Data indications
/// (RFC 8656 §10–§11), read and written in place with no allocation.
public enum STUNDataPath {
    /// Channel numbers a client may bind (RFC 8656 §12).
    public static let channelRange: ClosedRange<UInt16> = 0x4000...0x4FFF
    /// The range RFC 5766 allowed, before RFC 7983 gave 0x5000–0x7FFF's first bytes away.
    public static let legacyChannelRange: ClosedRange<UInt16> = 0x4000...0x7FFF

    /// RFC 7983 demultiplexing of what arrives on a TURN listener: 0–3 STUN, 64–79 ChannelData.
    @inlinable
    public static func isChannelData(firstByte: UInt8) -> Bool { firstByte & 0xC0 == 0x40 }

    /// A ChannelData header: `nil` when fewer than four bytes; the number and the payload length.
    @inlinable
    public static func channelDataHeader(_ bytes: UnsafeRawBufferPointer) -> (channel: UInt16, length: Int)? {
        guard bytes.count >= 4 else { return nil }
        return (bytes.loadBigEndian(UInt16.self, at: 0), Int(bytes.loadBigEndian(UInt16.self, at: 2)))
    }

    /// Size of a ChannelData message; over streams the payload is padded to four bytes (§12.5).
    @inlinable
    public static func channelDataSize(payload: Int, padded: Bool) -> Int {
        4 + (padded ? (payload + 3) & ~3 : payload)
    }

    /// Writes ChannelData; returns the bytes written (`out` has room for `channelDataSize`).
    @inlinable
    public static func writeChannelData(
        into out: UnsafeMutableRawBufferPointer, channel: UInt16, payload: UnsafeRawBufferPointer, padded: Bool
    ) -> Int {
        out.storeBigEndian(channel, at: 0)
        out.storeBigEndian(UInt16(truncatingIfNeeded: payload.count), at: 2)
        if let base = payload.baseAddress, let destination = out.baseAddress, payload.count > 0 {
            (destination + 4).copyMemory(from: base, byteCount: payload.count)
        }
        let size = channelDataSize(payload: payload.count, padded: padded)
        for i in (4 + payload.count)..<size { out[i] = 0 }
        return size
    }

    /// Size of a Data indication carrying `payload` bytes from a peer of `family`.
    @inlinable
    public static func dataIndicationSize(peer family: AddressFamily, payload: Int) -> Int {
        STUNHeader.size + 4 + STUNAddressCodec.encodedSize(family) + 4 + ((payload + 3) & ~3)
    }

    /// Writes a Data indication (XOR-PEER-ADDRESS, DATA); returns the bytes written.
    public static func writeDataIndication(
        into out: UnsafeMutableRawBufferPointer, transactionID: TransactionID, peer: TransportAddress,
        payload: UnsafeRawBufferPointer
    ) -> Int {
        let size = dataIndicationSize(peer: peer.family, payload: payload.count)
        out.storeBigEndian(STUNMessageType(method: .data, class: .indication).rawValue, at: 0)
        out.storeBigEndian(UInt16(truncatingIfNeeded: size - STUNHeader.size), at: 2)
        out.storeBigEndian(STUNHeader.magicCookie, at: 4)
        out.storeBigEndian(transactionID.hi, at: 8)
        out.storeBigEndian(transactionID.lo, at: 12)
        var at = STUNHeader.size
        let addressSize = STUNAddressCodec.encodedSize(peer.family)
        out.storeBigEndian(STUNAttributeType.xorPeerAddress.rawValue, at: at)
        out.storeBigEndian(UInt16(addressSize), at: at + 2)
        STUNAddressCodec.write(STUNAddressCodec.xor(peer, transactionID: transactionID), into: out, at: at + 4)
        at += 4 + addressSize
        out.storeBigEndian(STUNAttributeType.data.rawValue, at: at)
        out.storeBigEndian(UInt16(truncatingIfNeeded: payload.count), at: at + 2)
        at += 4
        if let base = payload.baseAddress, let destination = out.baseAddress, payload.count > 0 {
            (destination + at).copyMemory(from: base, byteCount: payload.count)
        }
        for i in (at + payload.count)..<size { out[i] = 0 }
        return size
    }

    /// What a Send indication (RFC 8656 §11.2) carries, read in place.
    public struct SendIndication: Sendable {
        public var peer: TransportAddress
        /// The DATA value's bytes, as offsets into the message.
        public var data: Range<Int>
    }

    /// Reads the XOR-PEER-ADDRESS and DATA of a Send indication whose header is `header`.
    /// `nil` when either is missing or malformed, or when an unknown comprehension-required
    /// attribute is present: RFC 8656 §11.2 says to discard such an indication silently.
    public static func sendIndication(_ message: UnsafeRawBufferPointer, header: STUNHeader) -> SendIndication? {
        var peer: TransportAddress?
        var data: Range<Int>?
        var valid = true
        do {
            try header.forEachAttribute(in: message) { slot in
                switch slot.type {
                case .xorPeerAddress where peer == nil:
                    peer = decodeXOR(message, slot.value, header.transactionID)
                    if peer == nil { valid = false }
                case .data where data == nil:
                    data = slot.value
                default:
                    if slot.type.isComprehensionRequired && !STUNAttributeType.understood.contains(slot.type) {
                        valid = false
                    }
                }
                return valid
            }
        } catch {
            return nil
        }
        guard valid, let peer, let data else { return nil }
        return SendIndication(peer: peer, data: data)
    }

    static func decodeXOR(_ m: UnsafeRawBufferPointer, _ value: Range<Int>, _ tid: TransactionID) -> TransportAddress? {
        guard value.count >= 8, let family = AddressFamily(rawValue: m[value.lowerBound + 1]),
            value.count == STUNAddressCodec.encodedSize(family)
        else { return nil }
        let port = m.loadBigEndian(UInt16.self, at: value.lowerBound + 2)
        let ip: IPAddress =
            family == .ipv4
            ? .v4(m.loadBigEndian(UInt32.self, at: value.lowerBound + 4))
            : .v6(hi: m.loadBigEndian(UInt64.self, at: value.lowerBound + 4), lo: m.loadBigEndian(UInt64.self, at: value.lowerBound + 12))
        return STUNAddressCodec.xor(TransportAddress(ip: ip, port: port), transactionID: tid)
    }
}
