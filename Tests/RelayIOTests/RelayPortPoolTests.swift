import Glibc
import RelayIO
import STUN
import Sockets
import TURN
import TestSupport
import Testing

/// `RelayPortPool` (Sources/RelayIO/RelayPortPool.swift) with real sockets on loopback. Every test
/// has its own ports from `RelayPortRanges.relayIOUnitTests`, so they may run in parallel with each
/// other and with the integration suites.
@Suite("Relay port pool")
struct RelayPortPoolTests {
    static let loopback = IPAddress.v4(0x7F00_0001)
    /// Instants in milliseconds, explicit as in the engine's tests.
    static let t0: Int64 = 1_000_000

    /// Ten ports of the unit-test slice, the `n`-th ten; the first is even.
    static func ports(_ n: UInt16, count: UInt16 = 10) -> ClosedRange<UInt16> {
        let base = RelayPortRanges.relayIOUnitTests.lowerBound + 10 * n
        return base...(base + count - 1)
    }

    /// Opens a relay socket, or records why not.
    static func open(
        _ pool: RelayPortPool, family: AddressFamily = .ipv4, even: Bool = false, reserve: Bool = false, at now: Int64 = t0
    ) -> (endpoint: RelayEndpoint, token: UInt64?)? {
        guard case .opened(let endpoint, let token) = pool.open(family: family, evenPort: even, reserveNext: reserve, nowMillis: now)
        else { return nil }
        return (endpoint, token)
    }

    static func isExhausted(_ result: RelayOpenResult) -> Bool {
        if case .exhausted = result { return true }
        return false
    }

    /// Whether a socket of our own can bind `address` now (no one, the pool included, holds it).
    static func isFree(_ address: TransportAddress) -> Bool {
        guard case .success(let fd) = SocketAddress.bindUDP(address, reusePort: false) else { return false }
        close(fd)
        return true
    }

    /// Closes and gives back what `open` handed out, as the worker does when an allocation goes.
    static func giveBack(_ pool: RelayPortPool, _ endpoint: RelayEndpoint) {
        close(endpoint.socket)
        pool.release(endpoint.address)
    }

    @Test func opensABoundSocketInTheRangeOnTheFamilysAddress() throws {
        let range = Self.ports(0)
        let pool = RelayPortPool(addresses: [Self.loopback, .v4(0x7F00_0002)], range: range)
        #expect(pool.addresses == [.ipv4: Self.loopback])  // the first address of a family is the one
        let (endpoint, token) = try #require(Self.open(pool))
        defer { Self.giveBack(pool, endpoint) }
        #expect(token == nil)
        #expect(endpoint.address.ip == Self.loopback && range.contains(endpoint.address.port))
        #expect(SocketAddress.localAddress(endpoint.socket) == endpoint.address)  // really bound there
        #expect(!Self.isFree(endpoint.address))
        #expect(pool.inUse == 1)
    }

    @Test func aFamilyWithoutAnAddressIsUnsupported() {
        let pool = RelayPortPool(addresses: [Self.loopback], range: Self.ports(1))
        guard case .unsupportedFamily = pool.open(family: .ipv6, evenPort: false, reserveNext: false, nowMillis: Self.t0) else {
            Issue.record("an IPv6 relay socket from an IPv4-only pool")
            return
        }
        #expect(pool.inUse == 0)
    }

    @Test func exhaustedUntilAPortIsReleased() throws {
        let range = Self.ports(2, count: 2)
        let pool = RelayPortPool(addresses: [Self.loopback], range: range)
        let a = try #require(Self.open(pool)).endpoint
        let b = try #require(Self.open(pool)).endpoint
        defer { Self.giveBack(pool, b) }
        #expect(Set([a.address.port, b.address.port]) == Set(range))
        #expect(Self.isExhausted(pool.open(family: .ipv4, evenPort: false, reserveNext: false, nowMillis: Self.t0)))
        #expect(pool.inUse == 2)
        Self.giveBack(pool, a)
        #expect(pool.inUse == 1)
        let again = try #require(Self.open(pool)).endpoint
        defer { Self.giveBack(pool, again) }
        #expect(again.address == a.address)
    }

    @Test func aPortAnotherProcessHoldsIsSkipped() throws {
        let range = Self.ports(3, count: 2)
        let pool = RelayPortPool(addresses: [Self.loopback], range: range)
        guard
            case .success(let squatter) = SocketAddress.bindUDP(
                TransportAddress(ip: Self.loopback, port: range.lowerBound), reusePort: false)
        else {
            Issue.record("could not bind \(range.lowerBound) for the test")
            return
        }
        defer { close(squatter) }
        let e = try #require(Self.open(pool)).endpoint
        defer { Self.giveBack(pool, e) }
        #expect(e.address.port == range.upperBound)
        #expect(Self.isExhausted(pool.open(family: .ipv4, evenPort: false, reserveNext: false, nowMillis: Self.t0)))
        #expect(pool.inUse == 1)  // the squatter's port is not counted as the pool's
    }

    @Test func evenPortGivesOnlyEvenPorts() throws {
        let range = Self.ports(4, count: 4)  // two even, two odd
        let pool = RelayPortPool(addresses: [Self.loopback], range: range)
        let a = try #require(Self.open(pool, even: true)).endpoint
        let b = try #require(Self.open(pool, even: true)).endpoint
        defer { [a, b].forEach { Self.giveBack(pool, $0) } }
        #expect(a.address.port % 2 == 0 && b.address.port % 2 == 0 && a.address.port != b.address.port)
        // The odd ports are free, but EVEN-PORT cannot have them (RFC 8656 §7.2).
        #expect(Self.isExhausted(pool.open(family: .ipv4, evenPort: true, reserveNext: false, nowMillis: Self.t0)))
        let odd = try #require(Self.open(pool)).endpoint
        defer { Self.giveBack(pool, odd) }
        #expect(odd.address.port % 2 == 1)
    }

    @Test func reservationHoldsTheNextPortForItsToken() throws {
        let pool = RelayPortPool(addresses: [Self.loopback], range: Self.ports(5))
        let (endpoint, token) = try #require(Self.open(pool, even: true, reserve: true))
        defer { Self.giveBack(pool, endpoint) }
        let t = try #require(token)
        let next = TransportAddress(ip: Self.loopback, port: endpoint.address.port + 1)
        #expect(endpoint.address.port % 2 == 0)
        #expect(pool.inUse == 2 && !Self.isFree(next))
        let claimed = try #require(pool.claim(t, nowMillis: Self.t0 + 1000))
        defer { Self.giveBack(pool, claimed) }
        #expect(claimed.address == next && SocketAddress.localAddress(claimed.socket) == next)
        #expect(pool.claim(t, nowMillis: Self.t0 + 1000) == nil)  // a token is good once
        #expect(pool.claim(t &+ 1, nowMillis: Self.t0 + 1000) == nil)  // and only its own
    }

    @Test func aReservationNeedsTheNextPortFree() throws {
        let range = Self.ports(6, count: 2)  // one even port and the odd one after it
        let pool = RelayPortPool(addresses: [Self.loopback], range: range)
        guard
            case .success(let squatter) = SocketAddress.bindUDP(
                TransportAddress(ip: Self.loopback, port: range.upperBound), reusePort: false)
        else {
            Issue.record("could not bind \(range.upperBound) for the test")
            return
        }
        #expect(Self.isExhausted(pool.open(family: .ipv4, evenPort: true, reserveNext: true, nowMillis: Self.t0)))
        #expect(pool.inUse == 0)
        // The even port it tried was closed again: a plain EVEN-PORT open gets it.
        let even = try #require(Self.open(pool, even: true)).endpoint
        #expect(even.address.port == range.lowerBound)
        Self.giveBack(pool, even)
        close(squatter)
        // Nor can the top of the range be reserved: its next port is outside.
        let top = RelayPortPool(addresses: [Self.loopback], range: range.lowerBound...range.lowerBound)
        #expect(Self.isExhausted(top.open(family: .ipv4, evenPort: true, reserveNext: true, nowMillis: Self.t0)))
    }

    @Test func aReservationLastsItsLifetimeAndNotAMillisecondMore() throws {
        let pool = RelayPortPool(addresses: [Self.loopback], range: Self.ports(7), reservationLifetimeMillis: 30_000)
        let first = try #require(Self.open(pool, even: true, reserve: true, at: Self.t0))
        let second = try #require(Self.open(pool, even: true, reserve: true, at: Self.t0))
        defer { [first.endpoint, second.endpoint].forEach { Self.giveBack(pool, $0) } }
        let (t1, t2) = (try #require(first.token), try #require(second.token))
        #expect(pool.inUse == 4)
        // 29.999 s later: still held, and claimable.
        pool.expireReservations(nowMillis: Self.t0 + 29_999)
        #expect(pool.inUse == 4)
        let claimed = try #require(pool.claim(t1, nowMillis: Self.t0 + 29_999))
        Self.giveBack(pool, claimed)
        // At 30 s it has expired: the sweep closes it and gives the port back.
        pool.expireReservations(nowMillis: Self.t0 + 30_000)
        #expect(pool.inUse == 2)
        let reserved = TransportAddress(ip: Self.loopback, port: second.endpoint.address.port + 1)
        #expect(Self.isFree(reserved))
        #expect(pool.claim(t2, nowMillis: Self.t0 + 30_000) == nil)
    }

    @Test func aLateClaimFindsNothingAndFreesThePort() throws {
        let pool = RelayPortPool(addresses: [Self.loopback], range: Self.ports(8), reservationLifetimeMillis: 5_000)
        let (endpoint, token) = try #require(Self.open(pool, even: true, reserve: true, at: Self.t0))
        defer { Self.giveBack(pool, endpoint) }
        // No sweep ran; the claim itself sees the expiry (exactly at it counts as expired).
        #expect(pool.claim(try #require(token), nowMillis: Self.t0 + 5_000) == nil)
        #expect(pool.inUse == 1)
        #expect(Self.isFree(TransportAddress(ip: Self.loopback, port: endpoint.address.port + 1)))
    }

    @Test func shutdownClosesEveryReservation() throws {
        let pool = RelayPortPool(addresses: [Self.loopback], range: Self.ports(9))
        let (endpoint, token) = try #require(Self.open(pool, even: true, reserve: true, at: Self.t0))
        defer { Self.giveBack(pool, endpoint) }
        pool.closeReservations()
        #expect(pool.inUse == 1)
        #expect(pool.claim(try #require(token), nowMillis: Self.t0) == nil)
        #expect(Self.isFree(TransportAddress(ip: Self.loopback, port: endpoint.address.port + 1)))
    }
}
