import STUN
import TURN

/// Relay resources without sockets: hands out ports from a small range per family and records
/// what was opened and closed, so engine tests can check that nothing leaks.
public final class FakeRelayResources: RelayResources {
    public var addresses: [AddressFamily: IPAddress]
    public var ports: ClosedRange<UInt16>
    public var maxPerUser: Int
    public var maxTotal: Int
    public private(set) var open: [SocketID: RelayEndpoint] = [:]
    public private(set) var perUser: [String: Int] = [:]
    public var reservations: [UInt64: RelayEndpoint] = [:]
    private var nextSocket: SocketID = 100
    /// The fleet channel: the socket questions leave from, ids seen, clients redirected.
    public var fleetSocket: SocketID?
    public private(set) var fleetChecksSeen: Set<TransactionID> = []
    public private(set) var redirected: Set<String> = []

    public func firstSight(ofFleetCheck id: TransactionID, nowMillis: Int64) -> Bool { fleetChecksSeen.insert(id).inserted }
    public func redirectedBefore(_ key: String, nowMillis: Int64) -> Bool { !redirected.insert(key).inserted }

    public init(
        addresses: [AddressFamily: IPAddress] = [.ipv4: .v4(0xC633_6401)], ports: ClosedRange<UInt16> = 50000...50009,
        maxPerUser: Int = 0, maxTotal: Int = 0
    ) {
        self.addresses = addresses
        self.ports = ports
        self.maxPerUser = maxPerUser
        self.maxTotal = maxTotal
    }

    public var allocations: Int { perUser.values.reduce(0, +) }

    func isFree(_ family: AddressFamily, _ port: UInt16) -> Bool {
        !open.values.contains { $0.address.family == family && $0.address.port == port }
            && !reservations.values.contains { $0.address.family == family && $0.address.port == port }
    }

    public func openRelay(family: AddressFamily, evenPort: Bool, reserveNext: Bool) -> RelayOpenResult {
        guard let ip = addresses[family] else { return .unsupportedFamily }
        for port in ports where isFree(family, port) {
            if evenPort && port % 2 == 1 { continue }
            if reserveNext && (port == ports.upperBound || !isFree(family, port + 1)) { continue }
            let endpoint = make(ip, port)
            open[endpoint.socket] = endpoint
            var token: UInt64?
            if reserveNext {
                token = UInt64(port) << 16 | 0xBEEF
                reservations[token!] = make(ip, port + 1)
            }
            return .opened(endpoint, reservationToken: token)
        }
        return .exhausted
    }

    private func make(_ ip: IPAddress, _ port: UInt16) -> RelayEndpoint {
        nextSocket += 1
        return RelayEndpoint(socket: nextSocket, address: TransportAddress(ip: ip, port: port))
    }

    public func claimReservation(_ token: UInt64) -> RelayEndpoint? {
        guard let e = reservations.removeValue(forKey: token) else { return nil }
        open[e.socket] = e
        return e
    }

    public func closeRelay(_ endpoint: RelayEndpoint) { open[endpoint.socket] = nil }
    /// Relay sockets a mobility move stopped and started reading (they stay open).
    public private(set) var handedOver: [RelayEndpoint] = []
    public private(set) var takenOver: [RelayEndpoint] = []
    public func handOver(_ relays: [RelayEndpoint]) { handedOver += relays }
    public func takeOver(_ relays: [RelayEndpoint]) { takenOver += relays }

    public func acquireAllocation(user: String) -> QuotaResult {
        if maxTotal > 0 && allocations >= maxTotal { return .totalQuotaReached }
        if maxPerUser > 0 && perUser[user, default: 0] >= maxPerUser { return .userQuotaReached }
        perUser[user, default: 0] += 1
        return .granted
    }

    public private(set) var pairing: [PairingEntry] = []
    public func registerPairing(_ entry: PairingEntry) { pairing.append(entry) }
    public func unregisterPairing(_ entry: PairingEntry) {
        if let i = pairing.firstIndex(of: entry) { pairing.remove(at: i) }
    }
    public func hasAllocations(device: String) -> Bool { pairing.contains { $0.device == device } }
    public func partnerAddresses(device: String, role: Identity.Role) -> Set<TransportAddress> {
        Set(pairing.filter { $0.device == device && $0.role == role }.flatMap(\.addresses))
    }

    public private(set) var routes: [TransportAddress: HairpinRoute] = [:]
    public func publishRoute(_ route: HairpinRoute?, for relayed: [TransportAddress]) { for a in relayed { routes[a] = route } }
    public func hairpinDelivery(to relayed: TransportAddress, from source: TransportAddress, now: Int64) -> HairpinDelivery {
        routes[relayed]?.delivery(from: source, now: now) ?? .notOurs
    }
    public func listenerSocket(for server: TransportAddress) -> SocketID? { 3 }

    public func releaseAllocation(user: String) {
        perUser[user, default: 0] -= 1
        if perUser[user] == 0 { perUser[user] = nil }
    }
}
