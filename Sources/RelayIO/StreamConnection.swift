import CAV1Shim
import Dispatch
import Glibc
import STUN
import Synchronization
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

/// Limits that keep a stream server alive under abuse, shared by every worker.
public struct StreamLimits: Sendable {
    /// Seconds to finish the TLS handshake (TCP: to send a first whole message).
    public var handshakeTimeout: Int64 = 10
    /// Seconds without a received byte before the connection is closed.
    public var idleTimeout: Int64 = 600
    /// Bytes waiting to be sent to a connection before it is closed (a reader that does not read).
    /// Received bytes are bounded by the framing: at most one incomplete frame (64 KiB).
    public var bufferLimit = 256 * 1024
    public var maxConnections = 10_000
    public var maxConnectionsPerAddress = 64

    public init() {}
}

/// Connection counts across workers, for the total and per-address caps.
public final class ConnectionCounter: Sendable {
    let limits: StreamLimits
    private let counts: Mutex<(total: Int, perAddress: [IPAddress: Int])> = Mutex((0, [:]))

    public init(limits: StreamLimits) { self.limits = limits }

    public var total: Int { counts.withLock { $0.total } }

    func admit(_ ip: IPAddress) -> Bool {
        counts.withLock { c in
            let mine = c.perAddress[ip, default: 0]
            guard c.total < limits.maxConnections, mine < limits.maxConnectionsPerAddress else { return false }
            c.total += 1
            c.perAddress[ip] = mine + 1
            return true
        }
    }

    func release(_ ip: IPAddress) {
        counts.withLock { c in
            c.total -= 1
            let left = c.perAddress[ip, default: 1] - 1
            c.perAddress[ip] = left > 0 ? left : nil
        }
    }
}

/// The TLS server context, swappable at run time (certificate reload). Live sessions keep the
/// context they started with (OpenSSL counts references); new ones take the current one.
public final class TLSContext: @unchecked Sendable {
    private let lock = Mutex(())
    private nonisolated(unsafe) var ctx: OpaquePointer?

    public init() {}

    deinit { if let ctx { av1_tls_ctx_free(ctx) } }

    /// Loads a certificate chain and key (PEM); on failure the previous context stays.
    public func load(certificate: String, key: String) throws(TLSError) {
        var err = [CChar](repeating: 0, count: 512)
        guard let fresh = av1_tls_server_ctx(certificate, key, &err, err.count) else {
            throw TLSError(message: String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        let old = lock.withLock { _ in
            let o = ctx
            ctx = fresh
            return o
        }
        if let old { av1_tls_ctx_free(old) }
    }

    public var isLoaded: Bool { lock.withLock { _ in ctx != nil } }

    /// A new server session on the current context.
    func session() -> OpaquePointer? {
        lock.withLock { _ in ctx.flatMap { av1_tls_new($0) } }
    }
}

public struct TLSError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}
