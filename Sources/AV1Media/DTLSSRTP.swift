import CAV1Media

/// DTLS 1.2 with the use_srtp extension (RFC 5764), bytes in and bytes out: the endpoint carries
/// the datagrams (through the TURN relay), this object only turns them over.
public final class DTLSSession {
    public enum Role: Sendable { case client, server }

    let ctx: OpaquePointer
    let ssl: OpaquePointer
    public let role: Role
    /// This side's certificate fingerprint ("sha-256 AB:CD:…" without the algorithm name).
    public let localFingerprint: String
    public private(set) var isComplete = false
    public private(set) var failed = false
    private var scratch = [UInt8](repeating: 0, count: 16 * 1024)

    /// `profiles`: SRTP profiles to offer (client) or accept (server), preferred first.
    public init?(role: Role, profiles: [SRTPProfile] = [.aeadAes128Gcm, .aes128CmHmacSha1_80], mtu: Int = 1200) {
        guard let ctx = av1_dtls_ctx_new(role == .server ? 1 : 0, profiles.map(\.openSSLName).joined(separator: ":")) else {
            return nil
        }
        guard let ssl = av1_dtls_new(ctx, role == .server ? 1 : 0, Int32(mtu)) else {
            av1_dtls_ctx_free(ctx)
            return nil
        }
        self.ctx = ctx
        self.ssl = ssl
        self.role = role
        var buffer = [CChar](repeating: 0, count: 128)
        _ = av1_dtls_ctx_fingerprint(ctx, &buffer, buffer.count)
        localFingerprint = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit {
        av1_dtls_free(ssl)
        av1_dtls_ctx_free(ctx)
    }

    /// Starts (client) or advances the handshake; returns datagrams to send.
    public func advance() -> [[UInt8]] {
        if !isComplete && !failed {
            switch av1_dtls_handshake(ssl) {
            case 1: isComplete = true
            case 0: break
            default: failed = true
            }
        }
        return outgoing()
    }

    /// A datagram from the peer; returns datagrams to send.
    public func receive(_ datagram: [UInt8]) -> [[UInt8]] {
        _ = datagram.withUnsafeBytes { av1_dtls_feed(ssl, $0.baseAddress, $0.count) }
        return advance()
    }

    /// Milliseconds until a retransmission is due, nil when none is.
    public var retransmitIn: Int? {
        let t = av1_dtls_timeout_ms(ssl)
        return t < 0 ? nil : Int(t)
    }

    /// Retransmits the last flight if its timer ran out.
    public func handleTimeout() -> [[UInt8]] {
        _ = av1_dtls_handle_timeout(ssl)
        return outgoing()
    }

    private func outgoing() -> [[UInt8]] {
        var out: [[UInt8]] = []
        while av1_dtls_pending(ssl) > 0 {
            let n = scratch.withUnsafeMutableBytes { av1_dtls_take(ssl, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out.append(Array(scratch.prefix(Int(n))))
        }
        return out
    }

    /// The peer's certificate fingerprint, once the handshake is complete.
    public var peerFingerprint: String? {
        var buffer = [CChar](repeating: 0, count: 128)
        guard av1_dtls_peer_fingerprint(ssl, &buffer, buffer.count) == 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The negotiated SRTP profile and this side's outbound and inbound master keys and salts
    /// (RFC 5764 §4.2: client key, server key, client salt, server salt).
    public func srtpKeys() -> (profile: SRTPProfile, outbound: [UInt8], inbound: [UInt8])? {
        guard isComplete, let profile = SRTPProfile(rawValue: av1_dtls_srtp_profile(ssl)) else { return nil }
        let k = Int(av1_srtp_key_length(profile.rawValue))
        let s = Int(av1_srtp_salt_length(profile.rawValue))
        var material = [UInt8](repeating: 0, count: 2 * (k + s))
        guard material.withUnsafeMutableBytes({ av1_dtls_export_srtp(ssl, $0.baseAddress, $0.count) }) == 0 else { return nil }
        let clientKey = material[0..<k]
        let serverKey = material[k..<(2 * k)]
        let clientSalt = material[(2 * k)..<(2 * k + s)]
        let serverSalt = material[(2 * k + s)...]
        let client = Array(clientKey + clientSalt)
        let server = Array(serverKey + serverSalt)
        return role == .client ? (profile, client, server) : (profile, server, client)
    }
}

/// SRTP protection profiles (RFC 5764 §4.1.2, RFC 7714).
public enum SRTPProfile: Int32, Sendable {
    case aes128CmHmacSha1_80 = 1
    case aeadAes128Gcm = 7

    public var name: String { self == .aeadAes128Gcm ? "AEAD_AES_128_GCM" : "AES_CM_128_HMAC_SHA1_80" }
    var openSSLName: String { self == .aeadAes128Gcm ? "SRTP_AEAD_AES_128_GCM" : "SRTP_AES128_CM_SHA1_80" }
}

/// One direction of SRTP/SRTCP (libsrtp2).
public final class SRTPSession {
    let session: OpaquePointer

    public init?(profile: SRTPProfile, keySalt: [UInt8], outbound: Bool) {
        guard let s = keySalt.withUnsafeBufferPointer({ av1_srtp_new(profile.rawValue, $0.baseAddress, outbound ? 1 : 0) }) else {
            return nil
        }
        session = s
    }

    deinit { av1_srtp_free(session) }

    /// Encrypts and authenticates an RTP (or RTCP) packet.
    public func protect(_ packet: [UInt8], rtcp: Bool = false) -> [UInt8]? {
        var buffer = packet + [UInt8](repeating: 0, count: 160)  // room for the tag (SRTP_MAX_TRAILER_LEN is 144)
        var length = Int32(packet.count)
        let rc = buffer.withUnsafeMutableBufferPointer { av1_srtp_protect(session, $0.baseAddress, &length, Int32($0.count), rtcp ? 1 : 0) }
        return rc == 0 ? Array(buffer.prefix(Int(length))) : nil
    }

    /// Authenticates and decrypts; nil when the packet is forged, replayed or damaged.
    public func unprotect(_ packet: [UInt8], rtcp: Bool = false) -> [UInt8]? {
        var buffer = packet
        var length = Int32(packet.count)
        let rc = buffer.withUnsafeMutableBufferPointer { av1_srtp_unprotect(session, $0.baseAddress, &length, rtcp ? 1 : 0) }
        return rc == 0 ? Array(buffer.prefix(Int(length))) : nil
    }
}
