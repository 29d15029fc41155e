import CAV1Shim

/// The TLS record path of a worker's connections (RFC 8656 §3.1 over TLS, RFC 8446), without the
/// socket: ciphertext a read brought in goes through OpenSSL's memory BIOs; the handshake's
/// answers and every sealed frame leave through `emit`, the plaintext through `deliver`. The
/// worker gives it its connection's socket and framer (Worker+Streams.swift); FuzzTLS gives it an
/// in-memory client and hostile records.
///
/// Two buffers, each zeroed after use and kept out of core dumps: `opened` holds a record's
/// plaintext while it is delivered, `sealed` the ciphertext of a frame sealed meanwhile — an
/// answer the engine flushes in the middle of a record's frames must not overwrite the rest.
package final class TLSRecordPath {
    let opened: UnsafeMutableRawBufferPointer
    let sealed: UnsafeMutableRawBufferPointer

    /// What the plaintext's reader says: go on, stop (the connection closed meanwhile), or close
    /// it for this reason.
    package enum Delivery: Equatable {
        case goOn, stop
        case close(StreamCloseReason)
    }

    package init(bytes: Int = 64 * 1024) {
        opened = .allocate(byteCount: bytes, alignment: 4096)
        sealed = .allocate(byteCount: bytes, alignment: 4096)
        for buffer in [opened, sealed] {
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            _ = av1_exclude_from_dump(buffer.baseAddress, buffer.count)
        }
    }

    deinit {
        opened.deallocate()
        sealed.deallocate()
    }

    /// Feeds `bytes` to `tls`; until the handshake is `established`, runs it, and calls
    /// `completed` when it completes (before any plaintext is delivered); then reads every whole
    /// record. Returns why the connection must close, or nil. `deliver` may call `seal`.
    ///
    /// `emit` returns false, and `deliver` `.stop`, when the connection closed meanwhile — its
    /// owner has freed `tls` by then, so nothing here touches it again.
    package func open(
        _ tls: OpaquePointer, _ bytes: UnsafeRawBufferPointer, established: Bool, completed: () -> Void,
        deliver: (UnsafeRawBufferPointer) -> Delivery, emit: (UnsafeRawBufferPointer) -> Bool
    ) -> StreamCloseReason? {
        guard av1_tls_feed(tls, bytes.baseAddress, bytes.count) == bytes.count else { return .tlsFailed }
        if !established {
            let rc = av1_tls_handshake(tls)
            guard push(tls, through: opened, emit) else { return nil }
            if rc < 0 { return .tlsFailed }
            if rc == 0 { return nil }
            completed()
        }
        while true {
            let n = Int(av1_tls_read(tls, opened.baseAddress, opened.count))
            if n == -2 { return .client }  // close_notify: the client hung up properly
            if n < 0 { return .tlsFailed }
            if n == 0 { break }
            let delivery = deliver(UnsafeRawBufferPointer(rebasing: opened[0..<n]))
            opened.zero(n)
            switch delivery {
            case .goOn: continue
            case .stop: return nil
            case .close(let reason): return reason
            }
        }
        _ = push(tls, through: opened, emit)
        return nil
    }

    /// Seals `bytes` as records and emits them. False when OpenSSL refuses (the connection must
    /// close as `tlsFailed`); true when they were sealed, even if the connection closed as they
    /// left (then `tls` is freed and not touched again).
    package func seal(_ tls: OpaquePointer, _ bytes: UnsafeRawBufferPointer, _ emit: (UnsafeRawBufferPointer) -> Bool) -> Bool {
        guard av1_tls_write(tls, bytes.baseAddress, bytes.count) == bytes.count else { return false }
        _ = push(tls, through: sealed, emit)
        return true
    }

    /// Emits what OpenSSL has written, until it has nothing more; false as soon as `emit` says the
    /// connection closed (and `tls` is no longer to be touched).
    private func push(_ tls: OpaquePointer, through buffer: UnsafeMutableRawBufferPointer, _ emit: (UnsafeRawBufferPointer) -> Bool)
        -> Bool
    {
        while av1_tls_pending(tls) > 0 {
            let n = Int(av1_tls_take(tls, buffer.baseAddress, buffer.count))
            if n <= 0 { break }
            let open = emit(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            buffer.zero(n)
            if !open { return false }
        }
        return true
    }
}
