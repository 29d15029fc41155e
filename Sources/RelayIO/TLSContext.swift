import CAV1Shim
import Synchronization

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
    package func session() -> OpaquePointer? {
        lock.withLock { _ in ctx.flatMap { av1_tls_new($0) } }
    }
}

public struct TLSError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}
