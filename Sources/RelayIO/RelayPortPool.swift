import Glibc
import STUN
import Sockets
import Synchronization
import TURN

/// The relay port range, shared by every worker: which ports are taken, per address family.
/// Opening a relay socket happens under its lock; that is the control plane, never per packet.
public final class RelayPortPool: Sendable {
    /// The address relay sockets bind to, per family.
    public let addresses: [AddressFamily: IPAddress]
    /// The address clients are told instead, per family, behind 1:1 NAT (`external-address`):
    /// endpoints carry it, so the engine, pairing and the hairpin only ever see the public side.
    public let advertised: [AddressFamily: IPAddress]
    public let range: ClosedRange<UInt16>
    /// How long a port reserved by EVEN-PORT's R bit is held (RFC 8656 §7.2: about 30 s).
    public let reservationLifetimeMillis: Int64
    private let taken: Mutex<[AddressFamily: Set<UInt16>]>
    private let reservations: Mutex<[UInt64: (endpoint: RelayEndpoint, expiry: Int64)]>

    public init(
        addresses: [IPAddress], advertised: [IPAddress: IPAddress] = [:], range: ClosedRange<UInt16>,
        reservationLifetimeMillis: Int64 = 30_000
    ) {
        self.reservationLifetimeMillis = reservationLifetimeMillis
        self.reservations = Mutex([:])
        var byFamily: [AddressFamily: IPAddress] = [:]
        for a in addresses where byFamily[a.family] == nil { byFamily[a.family] = a }
        self.addresses = byFamily
        self.advertised = byFamily.mapValues { advertised[$0] ?? $0 }
        self.range = range
        self.taken = Mutex([:])
    }

    public var inUse: Int { taken.withLock { $0.values.reduce(0) { $0 + $1.count } } }

    /// Binds a relay socket of `family` on a free port of the range: an even one if asked, and
    /// the odd one after it too when `reserveNext` (RFC 8656 §7.2, EVEN-PORT with R=1).
    public func open(family: AddressFamily, evenPort: Bool, reserveNext: Bool, nowMillis: Int64) -> RelayOpenResult {
        guard let ip = addresses[family], let shown = advertised[family] else { return .unsupportedFamily }
        let opened = taken.withLock { taken -> (RelayEndpoint, RelayEndpoint?)? in
            var used = taken[family] ?? []
            defer { taken[family] = used }
            let count = Int(range.upperBound) - Int(range.lowerBound) + 1
            let start = Int.random(in: 0..<count)
            for i in 0..<count {
                let port = UInt16(Int(range.lowerBound) + (start + i) % count)
                if evenPort && port % 2 == 1 { continue }
                if reserveNext && (port == range.upperBound || used.contains(port + 1)) { continue }
                if used.contains(port) { continue }
                let fd: Int32
                switch SocketAddress.bindUDP(TransportAddress(ip: ip, port: port), reusePort: false) {
                case .success(let opened): fd = opened
                case .failure(let e) where e.isResourceShortage: return nil  // no descriptor left: no port will do
                case .failure: continue  // taken by another process: try the next
                }
                var reserved: RelayEndpoint?
                if reserveNext {
                    let fd2: Int32
                    switch SocketAddress.bindUDP(TransportAddress(ip: ip, port: port + 1), reusePort: false) {
                    case .success(let opened): fd2 = opened
                    case .failure(let e):
                        close(fd)
                        if e.isResourceShortage { return nil }
                        continue
                    }
                    used.insert(port + 1)
                    reserved = RelayEndpoint(socket: fd2, address: TransportAddress(ip: shown, port: port + 1))
                }
                used.insert(port)
                return (RelayEndpoint(socket: fd, address: TransportAddress(ip: shown, port: port)), reserved)
            }
            return nil
        }
        guard let (endpoint, reserved) = opened else { return .exhausted }
        guard let reserved else { return .opened(endpoint, reservationToken: nil) }
        let token = reservations.withLock { r -> UInt64 in
            var t: UInt64
            repeat { t = UInt64.random(in: 1...UInt64.max) } while r[t] != nil
            r[t] = (reserved, nowMillis + reservationLifetimeMillis)
            return t
        }
        return .opened(endpoint, reservationToken: token)
    }

    /// Hands over the endpoint reserved under `token`.
    public func claim(_ token: UInt64, nowMillis: Int64) -> RelayEndpoint? {
        guard let r = reservations.withLock({ $0.removeValue(forKey: token) }) else { return nil }
        guard r.expiry > nowMillis else {
            close(r.endpoint.socket)
            release(r.endpoint.address)
            return nil
        }
        return r.endpoint
    }

    /// Closes reservations nobody claimed in time.
    public func expireReservations(nowMillis: Int64) {
        let expired = reservations.withLock { r -> [RelayEndpoint] in
            let gone = r.filter { $0.value.expiry <= nowMillis }
            for token in gone.keys { r[token] = nil }
            return gone.values.map(\.endpoint)
        }
        for e in expired {
            close(e.socket)
            release(e.address)
        }
    }

    /// Closes every reservation (shutdown).
    public func closeReservations() { expireReservations(nowMillis: .max) }

    /// Gives a port back once its socket is closed.
    public func release(_ address: TransportAddress) {
        taken.withLock { _ = $0[address.family]?.remove(address.port) }
    }
}

/// Allocation quotas across workers: per user (486) and in total (508). 0 means unlimited.
public final class AllocationQuota: Sendable {
    private struct Counts {
        var maxPerUser: Int
        var maxTotal: Int
        var total = 0
        var perUser: [String: Int] = [:]
    }
    private let counts: Mutex<Counts>

    public init(maxPerUser: Int, maxTotal: Int) {
        self.counts = Mutex(Counts(maxPerUser: maxPerUser, maxTotal: maxTotal))
    }

    public var maxPerUser: Int { counts.withLock { $0.maxPerUser } }
    public var maxTotal: Int { counts.withLock { $0.maxTotal } }
    public var total: Int { counts.withLock { $0.total } }

    /// New limits (a reload): allocations above them stay; new ones wait until they fit.
    public func setLimits(maxPerUser: Int, maxTotal: Int) {
        counts.withLock {
            $0.maxPerUser = maxPerUser
            $0.maxTotal = maxTotal
        }
    }

    public func acquire(user: String) -> QuotaResult {
        counts.withLock { c in
            if c.maxTotal > 0 && c.total >= c.maxTotal { return .totalQuotaReached }
            let mine = c.perUser[user, default: 0]
            if c.maxPerUser > 0 && mine >= c.maxPerUser { return .userQuotaReached }
            c.total += 1
            c.perUser[user] = mine + 1
            return .granted
        }
    }

    public func release(user: String) {
        counts.withLock { c in
            c.total -= 1
            let left = c.perUser[user, default: 1] - 1
            c.perUser[user] = left > 0 ? left : nil
        }
    }
}
