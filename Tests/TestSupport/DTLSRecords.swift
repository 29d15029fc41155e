/// DTLS record shapes as WebRTC endpoints send them through a relay: headers as the RFCs lay
/// them out, bodies opaque (the relay never sees a key, and neither do these).
public enum DTLSRecords {
    /// A DTLSPlaintext record (RFC 6347 §4.1, RFC 9147 §4): type, legacy version, epoch, 48-bit
    /// sequence, length, then `body`.
    public static func plaintext(_ type: UInt8, epoch: UInt16 = 0, _ body: [UInt8]) -> [UInt8] {
        [type, 0xFE, 0xFD, UInt8(epoch >> 8), UInt8(epoch & 0xFF), 0, 0, 0, 0, 0, 1, UInt8(body.count >> 8), UInt8(body.count & 0xFF)]
            + body
    }

    /// A DTLS 1.3 ciphertext record with the unified header (RFC 9147 §4): 001, C=0, S=1, L=1, the
    /// epoch's low two bits, a 16-bit sequence number and length, then opaque bytes.
    public static func unified(epoch: UInt8, _ size: Int) -> [UInt8] {
        [0x20 | 0x08 | 0x04 | (epoch & 3), 0, 7, UInt8(size >> 8), UInt8(size & 0xFF)] + [UInt8](repeating: 0xAB, count: size)
    }

    /// Handshake records in epoch 0: msg_type 1 (ClientHello) and 2 (ServerHello).
    public static let clientHello = plaintext(22, [1, 0, 0, 40] + [UInt8](repeating: 0, count: 40))
    public static let serverHello = plaintext(22, [2, 0, 0, 40] + [UInt8](repeating: 0, count: 40))
}
