/// What an endpoint tells the other through signalling (here: memory or a file).
public struct PeerInfo: Codable, Sendable, Equatable {
    /// The endpoint's relayed address on the relay, where the other end sends to it.
    public var relayed: String
    /// Its ICE username fragment (RFC 8445 §5.3), for the connectivity checks.
    public var ufrag: String
    /// Its ICE password: the key of the checks' MESSAGE-INTEGRITY.
    public var password: String
    /// The SHA-256 fingerprint of its DTLS certificate, checked after the handshake.
    public var fingerprint: String
}
