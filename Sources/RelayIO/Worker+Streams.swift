import CAV1Shim
import Glibc
import STUN
import Sockets
import TURN

/// TCP and TLS clients (RFC 8656 §3.1) in the worker's loop: accept, read, decrypt (TLS), frame,
/// hand each message to the same engine as UDP; answers leave through `send(_:to:)`.
extension Worker {
    func accept(_ listenerFD: Int32) {
        guard let listener = streamListeners.first(where: { $0.fd == listenerFD }), let counter = connectionCounter else { return }
        for _ in 0..<64 {
            var storage = sockaddr_storage()
            var length = socklen_t(0)
            let fd = av1_accept(listenerFD, &storage, &length)
            guard fd >= 0 else {
                switch -fd {
                case ECONNABORTED, EPROTO, EPERM: continue  // that client is gone, or refused by a firewall: the next
                case let e where SocketError.isResourceShortage(e): return rest(listenerFD, errno: e)
                default: return  // EAGAIN: nothing more to accept
                }
            }
            guard let client = SocketAddress.transportAddress(&storage), counter.admit(client.ip) else {
                close(fd)
                counts.health[closed: .refused] += 1
                continue
            }
            var session: OpaquePointer?
            if listener.transport == .tls {
                guard let s = tlsContext?.session() else {
                    close(fd)
                    counter.release(client.ip)
                    counts.health[closed: .refused] += 1
                    continue
                }
                session = s
            }
            av1_tcp_nodelay(fd)
            connections[fd] = StreamConnection(
                fd: fd, tuple: FiveTuple(client: client, server: listener.address, transport: listener.transport), tls: session,
                now: clock.now().millis)
            watch(fd, .connection, events: UInt32(AV1_IN | AV1_RDHUP))
        }
    }

    /// Stops watching a listener until the next tick, when accept(2) has run out of a resource;
    /// clients wait in the kernel's backlog meanwhile.
    private func rest(_ listenerFD: Int32, errno: Int32) {
        unwatch(listenerFD)
        restingListeners.append(listenerFD)
        counts.health.acceptPauses += 1
        if !acceptsPaused {
            acceptsPaused = true
            onPressure(.acceptsPaused(errno: errno))
        }
    }

    /// Watches the resting listeners again (from the tick); a tick with none resting (no pause
    /// since the last tick) ends the episode.
    func wakeRestingListeners() {
        if acceptsPaused && restingListeners.isEmpty {
            acceptsPaused = false
            onPressure(.acceptsResumed)
        }
        for fd in restingListeners { watch(fd, .streamListener) }
        restingListeners.removeAll(keepingCapacity: true)
    }

    func connectionReady(_ fd: Int32, events: UInt32) {
        guard let c = connections[fd] else { return }
        if events & UInt32(AV1_OUT) != 0 { writePending(c) }
        if events & UInt32(AV1_IN | AV1_HUP | AV1_ERR | AV1_RDHUP) != 0 { readable(c) }
    }

    /// Reads what the socket has (a fair share per round) and feeds it through.
    private func readable(_ c: StreamConnection) {
        for _ in 0..<4 where !c.closed {
            let n = read(c.fd, streamScratch.baseAddress, streamScratch.count)
            if n == 0 { return closeConnection(c, .client) }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { return }
                return closeConnection(c, .error)
            }
            c.lastReceived = clock.now().millis
            let bytes = UnsafeRawBufferPointer(rebasing: streamScratch[0..<n])
            let outcome = c.tls == nil ? frame(bytes, on: c) : decrypt(bytes, on: c)
            streamScratch.zero(n)
            if let reason = outcome { return closeConnection(c, reason) }
            if n < streamScratch.count { return }
        }
    }

    /// TLS records in (`TLSRecordPath`); plaintext to the framer; handshake answers out. Returns
    /// why the connection must close, or nil.
    private func decrypt(_ bytes: UnsafeRawBufferPointer, on c: StreamConnection) -> StreamCloseReason? {
        guard let tls = c.tls else { return .tlsFailed }
        return tlsPath.open(
            tls, bytes, established: c.established,
            completed: {
                c.established = true
                counts.health.tlsHandshakes += 1
            },
            deliver: { plaintext in
                guard !c.closed else { return .stop }
                if let reason = frame(plaintext, on: c) { return .close(reason) }
                return c.closed ? .stop : .goOn
            },
            emit: { emit($0, to: c) })
    }

    /// Plaintext in; each whole frame to the engine, until the connection closes: a flush inside
    /// the loop may close it (a write error, a reader past `stream-buffer`), and the frames left
    /// in the same read must not reach the engine with a dead tuple and an fd the next accepted
    /// connection may get.
    private func frame(_ bytes: UnsafeRawBufferPointer, on c: StreamConnection) -> StreamCloseReason? {
        let now = clock.now()
        do {
            try c.framer.append(bytes) { (frame: UnsafeRawBufferPointer) -> Bool in
                if c.tls == nil { c.established = true }
                engine.handleClientPacket(frame, tuple: c.tuple, socket: c.fd, now: now, out: outbox)
                if !outbox.hasRoom { flush() }
                return !c.closed
            }
            if c.closed { c.framer.discard() }
            return nil
        } catch {
            return .framingError
        }
    }

    /// Sends one frame the engine queued for a connection (encrypting it for TLS).
    func send(_ bytes: UnsafeRawBufferPointer, to c: StreamConnection) {
        guard !c.closed else { return }
        if let tls = c.tls {
            let sealed =
                c.established
                && tlsPath.seal(tls, bytes) { emit($0, to: c) }
            if !sealed { closeConnection(c, .tlsFailed) }
        } else {
            write(bytes, to: c)
        }
    }

    /// Ciphertext out through the socket: false once the connection has closed (its TLS session
    /// is freed then, and `TLSRecordPath` touches it no more).
    private func emit(_ ciphertext: UnsafeRawBufferPointer, to c: StreamConnection) -> Bool {
        guard !c.closed else { return false }
        write(ciphertext, to: c)
        return !c.closed
    }

    /// Writes now what the kernel takes; keeps the rest, in order, for when the socket drains.
    private func write(_ bytes: UnsafeRawBufferPointer, to c: StreamConnection) {
        var offset = 0
        if c.pending.isEmpty {
            let n = Glibc.send(c.fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
            if n < 0 && errno != EAGAIN && errno != EINTR { return closeConnection(c, .error) }
            offset = max(n, 0)
            if offset == bytes.count { return }
        }
        guard c.pending.count + bytes.count - offset <= streamLimits.bufferLimit else { return closeConnection(c, .overrun) }
        let wasEmpty = c.pending.isEmpty
        c.pending.append(contentsOf: bytes[offset...])
        if wasEmpty { rewatch(c.fd, .connection, events: UInt32(AV1_IN | AV1_RDHUP | AV1_OUT)) }
    }

    private func writePending(_ c: StreamConnection) {
        while !c.pending.isEmpty {
            let n = c.pending.withUnsafeBytes { Glibc.send(c.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { return }
                return closeConnection(c, .error)
            }
            for i in 0..<n { c.pending[i] = 0 }
            c.pending.removeFirst(n)
        }
        rewatch(c.fd, .connection, events: UInt32(AV1_IN | AV1_RDHUP))
    }

    /// Closes a connection, counted by why; its allocation goes with it (RFC 8656 §3.1).
    func closeConnection(_ c: StreamConnection, _ reason: StreamCloseReason) {
        guard !c.closed else { return }
        c.closed = true
        counts.health[closed: reason] += 1
        // A TLS connection that ends before its handshake completed, whatever ended it, is a failed handshake.
        if c.tls != nil && !c.established { counts.health.tlsFailures += 1 }
        connections[c.fd] = nil
        unwatch(c.fd)
        Glibc.close(c.fd)
        connectionCounter?.release(c.tuple.client.ip)
        engine.connectionClosed(c.tuple, now: clock.now(), out: outbox)
        if let tls = c.tls {
            av1_tls_free(tls)
            c.tls = nil
        }
        for i in c.pending.indices { c.pending[i] = 0 }
        c.pending.removeAll()
    }

    /// Handshake and idle timeouts; called from the worker's tick.
    func expireConnections(now: Int64) {
        for c in connections.values {
            let handshakeOver = !c.established && now - c.opened > streamLimits.handshakeTimeout * 1000
            if handshakeOver || now - c.lastReceived > streamLimits.idleTimeout * 1000 {
                closeConnection(c, .timeout)
            }
        }
    }

    func stopStreams() {
        for c in Array(connections.values) { closeConnection(c, .shutdown) }
    }
}

extension UnsafeMutableRawBufferPointer {
    /// Zeroes the first `count` bytes (payload must not linger in reused buffers).
    func zero(_ count: Int) {
        UnsafeMutableRawBufferPointer(rebasing: self[0..<Swift.min(count, self.count)]).initializeMemory(as: UInt8.self, repeating: 0)
    }
}
