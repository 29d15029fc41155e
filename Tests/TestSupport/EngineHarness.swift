import STUN
import TURN

/// Drives a `TURNEngine` with explicit instants, like the I/O layer would, and returns what it
/// sent. Engine scenarios read as the RFC's steps: send this, expect that.
public final class EngineHarness {
    public struct Sent: CustomStringConvertible {
        public var socket: SocketID
        public var destination: TransportAddress
        public var bytes: [UInt8]
        public var message: STUNMessage? { STUNMessage.parse(bytes) }
        public var description: String { "\(bytes.count) bytes from socket \(socket) to \(destination)" }
    }

    public static let secret = "rest-secret"
    public static let realm = "test.realm"
    public static let listener: SocketID = 3
    public static let server = TransportAddress(ip: .v4(0xC633_6401), port: 3478)  // 198.51.100.1

    public var engine: TURNEngine<FakeRelayResources>
    public let resources: FakeRelayResources
    public let out = Outbox()
    public var now = TURNTime(millis: 1_000_000, unixSeconds: 1_800_000_000)
    public private(set) var events: [TURNEvent] = []
    /// Mobility moves the engine handed to the I/O layer for another worker.
    public private(set) var moves: [MobilityMove] = []

    public init(
        resources: FakeRelayResources = FakeRelayResources(), allow: [CIDR] = [],
        users: [String: String] = ["alice": "wonderland", "bob": "builder"],
        secrets: [String] = [EngineHarness.secret], realm: String = EngineHarness.realm,
        configure: (inout TURNEngineConfiguration) -> Void = { _ in }
    ) {
        self.resources = resources
        let auth = Authenticator(
            realm: realm, users: users, secrets: secrets, nonceLifetimeSeconds: 600, nonceKey: Array(repeating: 7, count: 32))
        let policy = PeerPolicy(
            allow: allow, ownAddresses: Set(resources.addresses.values).union([EngineHarness.server.ip]),
            listenerAddresses: [EngineHarness.server])
        var configuration = TURNEngineConfiguration(realm: realm, authenticator: auth, peerPolicy: policy)
        configure(&configuration)
        engine = TURNEngine(configuration: configuration, resources: resources)
    }

    public func tuple(_ client: TransportAddress, _ transport: TransportProtocol = .udp) -> FiveTuple {
        FiveTuple(client: client, server: EngineHarness.server, transport: transport)
    }

    /// A client packet; returns what the engine sent in answer.
    @discardableResult
    public func fromClient(_ bytes: [UInt8], _ client: TransportAddress, transport: TransportProtocol = .udp, socket: SocketID = listener)
        -> [Sent]
    {
        bytes.withUnsafeBytes { engine.handleClientPacket($0, tuple: tuple(client, transport), socket: socket, now: now, out: out) }
        return collect()
    }

    /// A peer's datagram arriving on relay socket `relay`.
    @discardableResult
    public func fromPeer(_ bytes: [UInt8], _ peer: TransportAddress, relay: SocketID) -> [Sent] {
        bytes.withUnsafeBytes { engine.handlePeerPacket($0, from: peer, relaySocket: relay, now: now, out: out) }
        return collect()
    }

    /// Moves time forward and lets the engine expire what is due.
    @discardableResult
    public func advance(seconds: Int64) -> [Sent] {
        now = now.adding(seconds: seconds)
        engine.expire(now: now, out: out)
        return collect()
    }

    /// What the engine queued since the last call (for calls the harness does not wrap).
    public func collect() -> [Sent] {
        let sent = out.datagrams.enumerated().map { i, d in Sent(socket: d.socket, destination: d.destination, bytes: out.copy(i)) }
        events += out.events
        moves += out.moves
        out.removeAll()
        return sent
    }

    /// The one STUN response to `bytes` (nil if not exactly one, or not STUN).
    public func answer(_ bytes: [UInt8], _ client: TransportAddress, transport: TransportProtocol = .udp) -> STUNMessage? {
        let sent = fromClient(bytes, client, transport: transport)
        guard sent.count == 1 else { return nil }
        return sent[0].message
    }

    /// Runs the 401 dance as a client would: sends `build()`, learns the nonce from a 401 (or a
    /// 438 once the nonce went stale), sends it again signed.
    public func authenticated(
        _ client: inout TestClient, from address: TransportAddress, transport: TransportProtocol = .udp, _ build: (TestClient) -> [UInt8]
    ) -> STUNMessage? {
        if client.nonce == nil {
            guard let challenge = answer(build(client), address, transport: transport), client.learn(from: challenge) else { return nil }
        }
        let first = answer(build(client), address, transport: transport)
        guard let first, first.code == 438, client.learn(from: first) else { return first }
        return answer(build(client), address, transport: transport)
    }

    /// Realm and nonce for `client`, from the 401 an unsigned Allocate draws (it makes nothing).
    public func learnNonce(_ client: inout TestClient, from address: TransportAddress) {
        var bare = client
        bare.nonce = nil
        if let challenge = answer(bare.allocate(), address) { client.learn(from: challenge) }
    }

    /// A ready allocation for `client` at `address`; returns the relayed address.
    public func allocate(_ client: inout TestClient, from address: TransportAddress, transport: TransportProtocol = .udp)
        -> TransportAddress?
    {
        guard let r = authenticated(&client, from: address, transport: transport, { $0.allocate() }), r.messageClass == .successResponse
        else {
            return nil
        }
        return try? r.xorAddress(.xorRelayedAddress)
    }

    /// The relay socket the engine uses for `relayed`.
    public func relaySocket(for relayed: TransportAddress) -> SocketID? {
        resources.open.values.first { $0.address == relayed }?.socket
    }
}
