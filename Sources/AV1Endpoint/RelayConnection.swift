import CAV1Shim
import Foundation
import Glibc
import STUN
import Sockets

/// How an endpoint reaches the relay (RFC 8656 §3.1): UDP, TCP or TLS.
public enum RelayTransport: String, Sendable, CaseIterable {
    case udp, tcp, tls
}

/// An endpoint's connection to the TURN relay: one STUN message or ChannelData in, one out.
/// Blocking socket with `poll` timeouts: the endpoint's thread is its event loop.
public final class RelayConnection {
    let fd: Int32
    let transport: RelayTransport
    let server: TransportAddress
    private var framer = StreamFramer()
    private var frames: [[UInt8]] = []
    private var tlsContext: OpaquePointer?
    private var tls: OpaquePointer?
    private var buffer = [UInt8](repeating: 0, count: 65_536)

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// `tls`: how a TLS relay's certificate is checked (by default against the system's trust
    /// store and the relay's IP address). `local`: the address to send from (a robot that roams
    /// to another network); by default the system picks one.
    public init(
        to server: TransportAddress, transport: RelayTransport, tls verification: TLSVerification = .init(), from local: IPAddress? = nil,
        timeoutSeconds: Double = 5
    )
        throws
    {
        self.server = server
        self.transport = transport
        let family = server.family == .ipv4 ? AF_INET : AF_INET6
        fd = socket(family, transport == .udp ? Int32(SOCK_DGRAM.rawValue) : Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        if let local {
            var here = sockaddr_storage()
            let size = SocketAddress.write(TransportAddress(ip: local, port: 0), into: &here)
            let bound = withUnsafePointer(to: &here) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) } }
            guard bound == 0 else {
                let why = String(cString: strerror(errno))
                close(fd)
                throw Failure(description: "cannot send from \(local): \(why)")
            }
        }
        var storage = sockaddr_storage()
        let length = SocketAddress.write(server, into: &storage)
        let rc = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) } }
        guard rc == 0 else {
            close(fd)
            throw Failure(description: "cannot connect to the relay at \(server) over \(transport): \(String(cString: strerror(errno)))")
        }
        if transport == .tcp || transport == .tls { av1_tcp_nodelay(fd) }
        if transport == .tls {
            do { try handshake(verification, timeoutSeconds: timeoutSeconds) } catch {
                close(fd)
                throw error
            }
        }
    }

    deinit {
        if let tls { av1_tls_free(tls) }
        if let tlsContext { av1_tls_ctx_free(tlsContext) }
        close(fd)
    }

    public var localAddress: TransportAddress? { SocketAddress.localAddress(fd) }

    private func handshake(_ verification: TLSVerification, timeoutSeconds: Double) throws {
        var err = [CChar](repeating: 0, count: 256)
        guard let ctx = av1_tls_client_ctx(verification.caFile, verification.insecure ? 0 : 1, &err, err.count) else {
            throw Failure(description: "TLS: \(Self.text(err))")
        }
        tlsContext = ctx
        let name = verification.serverName ?? "\(server.ip)"
        guard let session = av1_tls_new_client(ctx, name) else { throw Failure(description: "TLS: cannot check the name '\(name)'") }
        tls = session
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while true {
            let rc = av1_tls_handshake(session)
            try flushTLS()
            if rc == 1 { return }
            if rc < 0 {
                var reason = [CChar](repeating: 0, count: 256)
                av1_tls_verify_error(session, &reason, reason.count)
                let why = Self.text(reason)
                throw Failure(
                    description: why.isEmpty
                        ? "TLS handshake with the relay failed"
                        : "TLS: the relay's certificate is not trusted for \(name): \(why) (--tls-ca FILE names its CA, --tls-insecure skips the check)"
                )
            }
            guard Date() < deadline else { throw Failure(description: "TLS handshake with the relay timed out") }
            let n = try readRaw(timeoutMillis: 200)
            if n > 0 { _ = buffer.withUnsafeBytes { av1_tls_feed(session, $0.baseAddress, n) } }
        }
    }

    /// A C string the shim wrote into `buffer`.
    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private func flushTLS() throws {
        guard let tls else { return }
        while av1_tls_pending(tls) > 0 {
            let n = buffer.withUnsafeMutableBytes { av1_tls_take(tls, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            try writeAll(Array(buffer.prefix(Int(n))))
        }
    }

    private func writeAll(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "send to relay: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    /// Sends one message (a datagram on UDP; framed, padded as the engine expects, on streams).
    public func send(_ message: [UInt8]) throws {
        switch transport {
        case .udp:
            _ = message.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
        case .tcp:
            try writeAll(message)
        case .tls:
            guard let tls else { return }
            _ = message.withUnsafeBytes { av1_tls_write(tls, $0.baseAddress, $0.count) }
            try flushTLS()
        }
    }

    /// Reads raw bytes into `buffer`: count, 0 on timeout; throws when the relay closed.
    private func readRaw(timeoutMillis: Int32) throws -> Int {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, timeoutMillis) > 0 else { return 0 }
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n == 0 && transport != .udp { throw Failure(description: "the relay closed the connection") }
        return max(n, 0)
    }

    /// The next message from the relay, waiting at most `timeoutMillis`; nil on timeout.
    public func receive(timeoutMillis: Int32) throws -> [UInt8]? {
        if !frames.isEmpty { return frames.removeFirst() }
        let n = try readRaw(timeoutMillis: timeoutMillis)
        guard n > 0 else { return nil }
        if transport == .udp { return Array(buffer.prefix(n)) }
        var plain: [UInt8]
        if let tls {
            _ = buffer.withUnsafeBytes { av1_tls_feed(tls, $0.baseAddress, n) }
            plain = []
            var chunk = [UInt8](repeating: 0, count: 16_384)
            while true {
                let r = chunk.withUnsafeMutableBytes { av1_tls_read(tls, $0.baseAddress, $0.count) }
                if r < 0 { throw Failure(description: "TLS session with the relay failed") }
                if r == 0 { break }
                plain += chunk.prefix(Int(r))
            }
            try flushTLS()
        } else {
            plain = Array(buffer.prefix(n))
        }
        do {
            try plain.withUnsafeBytes { raw in try framer.append(raw) { frames.append(Array($0)) } }
        } catch {
            throw Failure(description: "the relay sent a stream that cannot be framed")
        }
        return frames.isEmpty ? nil : frames.removeFirst()
    }
}

/// How a client checks a TLS relay's certificate.
public struct TLSVerification: Sendable, Equatable {
    /// The CA certificates (PEM) to trust; nil: the system's trust store.
    public var caFile: String?
    /// No check at all (a development relay's self-signed certificate).
    public var insecure = false
    /// The name the certificate must be for (and the SNI); nil: the relay's IP address.
    public var serverName: String?

    public init(caFile: String? = nil, insecure: Bool = false, serverName: String? = nil) {
        self.caFile = caFile
        self.insecure = insecure
        self.serverName = serverName
    }
}
