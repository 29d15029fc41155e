import STUN
import TURN

/// One TCP or TLS client connection (RFC 8656 §3.1): a nonblocking socket owned by one worker's
/// loop, a framer, and — for TLS — an OpenSSL session behind memory BIOs, so that the handshake
/// and the records are bytes in, bytes out. The allocation made over it lives and dies with it.
final class StreamConnection {
    let fd: Int32
    let tuple: FiveTuple
    var framer: StreamFramer
    /// The TLS session; nil for plain TCP.
    var tls: OpaquePointer?
    /// TLS handshake complete (TCP: first whole frame received): until then the handshake
    /// timeout applies.
    var established = false
    let opened: Int64
    var lastReceived: Int64
    /// Bytes the kernel would not take yet, sent when the socket is writable again; a reader that
    /// does not read is cut off at the buffer limit.
    var pending: [UInt8] = []
    var closed = false

    init(fd: Int32, tuple: FiveTuple, tls: OpaquePointer?, now: Int64) {
        self.fd = fd
        self.tuple = tuple
        self.tls = tls
        self.framer = StreamFramer()
        self.opened = now
        self.lastReceived = now
    }
}
