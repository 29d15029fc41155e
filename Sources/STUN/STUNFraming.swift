/// Splitting a byte stream into STUN messages and ChannelData (RFC 8656 §12.5, RFC 8489 §6.2.2).
///
/// Over TCP and TLS the first byte says what comes next (RFC 7983): 0–3 a STUN message whose
/// header carries its length, 64–127 ChannelData whose 4-byte header does, padded to four bytes
/// on a stream. Anything else cannot be framed, and the connection must be closed.
public enum STUNFraming {
    /// What the front of a stream buffer holds.
    public enum Frame: Equatable, Sendable {
        /// A whole frame of this many bytes is at the front.
        case complete(Int)
        /// The frame is this many bytes long in all (when known), and not all of it is here yet.
        case needMore(Int?)
        /// The bytes cannot start a frame: close the connection.
        case invalid(STUNParseError)
    }

    /// The largest frame a stream may carry: a STUN header plus a 16-bit length.
    public static let maxFrame = STUNHeader.size + 0xFFFF

    /// Looks at the front of `buffer`.
    public static func frame(_ buffer: UnsafeRawBufferPointer) -> Frame {
        guard let first = buffer.first else { return .needMore(nil) }
        if STUNDataPath.isChannelData(firstByte: first) {
            guard buffer.count >= 4 else { return .needMore(nil) }
            let length = Int(buffer.loadBigEndian(UInt16.self, at: 2))
            let size = STUNDataPath.channelDataSize(payload: length, padded: true)
            return buffer.count >= size ? .complete(size) : .needMore(size)
        }
        guard first & 0xC0 == 0 else { return .invalid(.notSTUN) }
        guard buffer.count >= 4 else { return .needMore(nil) }
        let length = Int(buffer.loadBigEndian(UInt16.self, at: 2))
        guard length & 3 == 0 else { return .invalid(.unalignedLength) }
        if buffer.count >= 8 && buffer.loadBigEndian(UInt32.self, at: 4) != STUNHeader.magicCookie {
            return .invalid(.badMagicCookie)
        }
        let size = STUNHeader.size + length
        return buffer.count >= size ? .complete(size) : .needMore(size)
    }
}

/// A stream's receive buffer: append what arrived, take whole frames off the front.
///
/// One growable byte array per connection, compacted after each append, so a connection costs
/// one buffer whatever the split of the stream. What waits for the rest of a frame is bounded by
/// the largest frame (`STUNFraming.maxFrame`): a length field is 16 bits.
public struct StreamFramer: Sendable {
    public private(set) var storage: [UInt8] = []
    private var start = 0

    public init() {}

    public var buffered: Int { storage.count - start }

    /// Why the stream must be closed.
    public enum Failure: Error, Equatable, Sendable {
        case invalid(STUNParseError)
    }

    /// Appends `bytes` and calls `body` with each whole frame now at the front, in order.
    /// Throws (after delivering the frames before it) when the stream cannot be framed.
    public mutating func append(_ bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) throws(Failure) {
        try append(bytes) { (frame: UnsafeRawBufferPointer) -> Bool in
            body(frame)
            return true
        }
    }

    /// Appends `bytes` and calls `body` with each whole frame now at the front, in order, for as
    /// long as `body` returns true: a connection that closed while its frames were handed on must
    /// not see the rest (they stay buffered until `discard()`).
    /// Throws (after delivering the frames before it) when the stream cannot be framed.
    public mutating func append(_ bytes: UnsafeRawBufferPointer, while body: (UnsafeRawBufferPointer) -> Bool) throws(Failure) {
        if start > 0 && start == storage.count {
            storage.removeAll(keepingCapacity: true)
            start = 0
        }
        storage.append(contentsOf: bytes)
        defer { compact() }
        while true {
            let frame = storage.withUnsafeBytes { STUNFraming.frame(UnsafeRawBufferPointer(rebasing: $0[start...])) }
            switch frame {
            case .complete(let size):
                let more = storage.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[start..<(start + size)])) }
                start += size
                if !more { return }
            case .needMore:
                return
            case .invalid(let e):
                throw .invalid(e)
            }
        }
    }

    /// Zeroes and forgets everything buffered (a closed connection's unread frames).
    public mutating func discard() {
        for i in storage.indices { storage[i] = 0 }
        storage.removeAll()
        start = 0
    }

    /// Forgets what was consumed, and zeroes it: media may have passed through.
    private mutating func compact() {
        guard start > 0 else { return }
        for i in 0..<start { storage[i] = 0 }
        storage.removeFirst(start)
        start = 0
    }
}
