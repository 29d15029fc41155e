import CAV1Shim

/// One TLS connection's record path (RFC 8656 §3.1 over TLS, RFC 8446), without the socket:
/// ciphertext a read brought in goes through OpenSSL's memory BIOs; the handshake's answers and
/// every sealed frame leave through `emit`, the plaintext through `deliver`. The worker gives it
/// its connection's socket and framer (Worker+Streams.swift); FuzzTLS gives it an in-memory
/// client and hostile records. `scratch` holds plaintext and ciphertext in passing and is zeroed
/// after each use.
package enum TLSRecordPath {
    /// What the plaintext's reader says: go on, stop (the connection closed meanwhile), or close
    /// it for this reason.
    package enum Delivery: Equatable {
        case goOn, stop
        case close(StreamCloseReason)
    }

    /// Feeds `bytes` to `tls`; until the handshake is `established`, runs it, and calls
    /// `completed` when it completes (before any plaintext is delivered); then reads every whole
    /// record. Returns why the connection must close, or nil. `emit` returns false when the
    /// connection closed meanwhile.
    package static func open(
        _ tls: OpaquePointer, _ bytes: UnsafeRawBufferPointer, established: Bool, scratch: UnsafeMutableRawBufferPointer,
        completed: () -> Void, deliver: (UnsafeRawBufferPointer) -> Delivery, emit: (UnsafeRawBufferPointer) -> Bool
    ) -> StreamCloseReason? {
        guard av1_tls_feed(tls, bytes.baseAddress, bytes.count) == bytes.count else { return .tlsFailed }
        if !established {
            let rc = av1_tls_handshake(tls)
            push(tls, scratch: scratch, emit)
            if rc < 0 { return .tlsFailed }
            if rc == 0 { return nil }
            completed()
        }
        reading: while true {
            let n = Int(av1_tls_read(tls, scratch.baseAddress, scratch.count))
            if n == -2 { return .client }  // close_notify: the client hung up properly
            if n < 0 { return .tlsFailed }
            if n == 0 { break }
            let delivery = deliver(UnsafeRawBufferPointer(rebasing: scratch[0..<n]))
            scratch.zero(n)
            switch delivery {
            case .goOn: continue
            case .stop: break reading
            case .close(let reason): return reason
            }
        }
        push(tls, scratch: scratch, emit)
        return nil
    }

    /// Seals `bytes` as records and emits them. False when OpenSSL refuses (the connection must
    /// close as `tlsFailed`).
    package static func seal(
        _ tls: OpaquePointer, _ bytes: UnsafeRawBufferPointer, scratch: UnsafeMutableRawBufferPointer,
        _ emit: (UnsafeRawBufferPointer) -> Bool
    ) -> Bool {
        guard av1_tls_write(tls, bytes.baseAddress, bytes.count) == bytes.count else { return false }
        push(tls, scratch: scratch, emit)
        return true
    }

    /// Emits what OpenSSL has written, until it has nothing more or the connection closed.
    static func push(_ tls: OpaquePointer, scratch: UnsafeMutableRawBufferPointer, _ emit: (UnsafeRawBufferPointer) -> Bool) {
        while av1_tls_pending(tls) > 0 {
            let n = Int(av1_tls_take(tls, scratch.baseAddress, scratch.count))
            if n <= 0 { break }
            let open = emit(UnsafeRawBufferPointer(rebasing: scratch[0..<n]))
            scratch.zero(n)
            if !open { break }
        }
    }
}
