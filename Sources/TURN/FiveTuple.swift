import STUN

/// Transports a client can reach the relay over (RFC 8656 §3.1). The relayed side is always UDP.
public enum TransportProtocol: UInt8, Hashable, Sendable, CustomStringConvertible {
    case udp, tcp, tls

    public var description: String {
        switch self {
        case .udp: "udp"
        case .tcp: "tcp"
        case .tls: "tls"
        }
    }

    /// Stream transports pad ChannelData to four bytes (RFC 8656 §12.5).
    public var isStream: Bool { self != .udp }
}

/// The I/O layer's handle for a socket or connection; opaque to the engine.
public typealias SocketID = Int32

/// Identifies an allocation (RFC 8656 §2: client address, server address, transport).
public struct FiveTuple: Hashable, Sendable {
    public var client: TransportAddress
    public var server: TransportAddress
    public var transport: TransportProtocol

    public init(client: TransportAddress, server: TransportAddress, transport: TransportProtocol) {
        self.client = client
        self.server = server
        self.transport = transport
    }
}
