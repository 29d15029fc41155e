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
