import Benchmark
import STUN
import TURN

/// Relay resources with no sockets: enough for the engine to allocate.
final class NoSockets: RelayResources {
    var next: SocketID = 100
    func openRelay(family: AddressFamily, evenPort: Bool, reserveNext: Bool) -> RelayOpenResult {
        next += 1
        return .opened(
            RelayEndpoint(socket: next, address: TransportAddress(ip: .v4(0x0808_0808), port: UInt16(next))), reservationToken: nil)
    }
    func claimReservation(_ token: UInt64) -> RelayEndpoint? { nil }
    func closeRelay(_ endpoint: RelayEndpoint) {}
    func handOver(_ relays: [RelayEndpoint]) {}
    func takeOver(_ relays: [RelayEndpoint]) {}
    func acquireAllocation(user: String) -> QuotaResult { .granted }
    func releaseAllocation(user: String) {}
    func registerPairing(_ entry: PairingEntry) {}
    func unregisterPairing(_ entry: PairingEntry) {}
    func partnerAddresses(device: String, role: Identity.Role) -> Set<TransportAddress> { [TransportAddress("1.1.1.1:5000")!] }
    func publishRoute(_ route: HairpinRoute?, for relayed: [TransportAddress]) {}
    func hairpinDelivery(to relayed: TransportAddress, from source: TransportAddress, now: Int64) -> HairpinDelivery { .notOurs }
    func listenerSocket(for server: TransportAddress) -> SocketID? { nil }
    func hasAllocations(device: String) -> Bool { false }
    var fleetSocket: SocketID? { nil }
    func firstSight(ofFleetCheck id: TransactionID, nowMillis: Int64) -> Bool { true }
    func redirectedBefore(_ key: String, nowMillis: Int64) -> Bool { false }
}

/// An engine with one allocation, a permission and channel 0x4000 bound to `peer`.
struct Fixture {
    var engine: TURNEngine<NoSockets>
    let out = Outbox()
    let tuple = FiveTuple(client: TransportAddress("198.51.100.7:40000")!, server: TransportAddress("198.51.100.1:3478")!, transport: .udp)
    let peer = TransportAddress("1.1.1.1:5000")!
    let now = TURNTime(millis: 1_000_000, unixSeconds: 1_800_000_000)
    var relaySocket: SocketID = 0

    /// `paired`: the allocation belongs to robot:1 with pairing on, so session analytics read
    /// every packet it relays.
    init(paired: Bool = false) {
        let user = paired ? "robot:1" : "u"
        let auth = Authenticator(realm: "bench", users: [user: "p"], secrets: [], nonceLifetimeSeconds: 600, nonceKey: [1, 2, 3])
        var configuration = TURNEngineConfiguration(realm: "bench", authenticator: auth, peerPolicy: PeerPolicy())
        configuration.pairing = paired
        engine = TURNEngine(configuration: configuration, resources: NoSockets())
        var realm = "", nonce = ""
        func request(_ method: STUNMethod, signed: Bool, _ build: (inout STUNMessageBuilder) -> Void) -> [UInt8] {
            var b = STUNMessageBuilder(method: method, class: .request, transactionID: .random())
            build(&b)
            if signed {
                b.append(.username, text: user)
                b.append(.realm, text: realm)
                b.append(.nonce, text: nonce)
                b.appendMessageIntegrity(key: PasswordAlgorithm.md5.key(username: user, realm: realm, password: "p"))
            }
            return b.bytes
        }
        let allocate: (inout STUNMessageBuilder) -> Void = { $0.append(.requestedTransport, [17, 0, 0, 0]) }
        send(request(.allocate, signed: false, allocate))
        let challenge = try! STUNMessage(parsing: out.copy(0))!
        realm = challenge.text(.realm)!
        nonce = challenge.text(.nonce)!
        send(request(.allocate, signed: true, allocate))
        let peer = self.peer
        send(
            request(.channelBind, signed: true) { b in
                b.append(.channelNumber, [0x40, 0x00, 0, 0])
                b.append(.xorPeerAddress, xorAddress: peer)
            })
        relaySocket = 101
    }

    mutating func send(_ bytes: [UInt8]) {
        out.removeAll()
        bytes.withUnsafeBytes { engine.handleClientPacket($0, tuple: tuple, socket: 3, now: now, out: out) }
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal], scalingFactor: .kilo, maxDuration: .seconds(2))

    Benchmark("ChannelData client → peer (200 B)", configuration: .init(thresholds: [.mallocCountTotal: .init(absolute: [.p100: 0])])) {
        benchmark in
        var f = Fixture()
        let packet = [0x40, 0x00, 0x00, 0xC8] + [UInt8](repeating: 0x80, count: 200)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            packet.withUnsafeBytes { f.engine.handleClientPacket($0, tuple: f.tuple, socket: 3, now: f.now, out: f.out) }
            f.out.removeAll()
        }
    }

    Benchmark(
        "ChannelData client → peer (200 B SRTP) with session analytics",
        configuration: .init(thresholds: [.mallocCountTotal: .init(absolute: [.p100: 0])])
    ) { benchmark in
        var f = Fixture(paired: true)
        // An SRTP-shaped payload: RTP header in the clear, sequence number advancing.
        var packet = [0x40, 0x00, 0x00, 0xC8, 0x80, 0x6F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 42] + [UInt8](repeating: 0x80, count: 188)
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            packet[6] = UInt8(truncatingIfNeeded: i >> 8)
            packet[7] = UInt8(truncatingIfNeeded: i)
            packet.withUnsafeBytes { f.engine.handleClientPacket($0, tuple: f.tuple, socket: 3, now: f.now, out: f.out) }
            f.out.removeAll()
        }
    }

    Benchmark("peer → client ChannelData (200 B)", configuration: .init(thresholds: [.mallocCountTotal: .init(absolute: [.p100: 0])])) {
        benchmark in
        var f = Fixture()
        let payload = [UInt8](repeating: 0x80, count: 200)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            payload.withUnsafeBytes { f.engine.handlePeerPacket($0, from: f.peer, relaySocket: f.relaySocket, now: f.now, out: f.out) }
            f.out.removeAll()
        }
    }

    Benchmark("peer → client Data indication (200 B)", configuration: .init(thresholds: [.mallocCountTotal: .init(absolute: [.p100: 0])])) {
        benchmark in
        var f = Fixture()
        let other = TransportAddress(ip: f.peer.ip, port: 6000)  // permitted IP, no channel
        let payload = [UInt8](repeating: 0x80, count: 200)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            payload.withUnsafeBytes { f.engine.handlePeerPacket($0, from: other, relaySocket: f.relaySocket, now: f.now, out: f.out) }
            f.out.removeAll()
        }
    }

    Benchmark("Send indication client → peer (200 B)", configuration: .init(thresholds: [.mallocCountTotal: .init(absolute: [.p100: 0])])) {
        benchmark in
        var f = Fixture()
        var b = STUNMessageBuilder(method: .send, class: .indication, transactionID: .random())
        b.append(.xorPeerAddress, xorAddress: f.peer)
        b.append(.data, [UInt8](repeating: 0x80, count: 200))
        let packet = b.bytes
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            packet.withUnsafeBytes { f.engine.handleClientPacket($0, tuple: f.tuple, socket: 3, now: f.now, out: f.out) }
            f.out.removeAll()
        }
    }

    Benchmark("Binding request → response") { benchmark in
        var f = Fixture()
        let packet = STUNMessageBuilder(method: .binding, class: .request, transactionID: .random()).bytes
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            packet.withUnsafeBytes { f.engine.handleClientPacket($0, tuple: f.tuple, socket: 3, now: f.now, out: f.out) }
            f.out.removeAll()
        }
    }
}
