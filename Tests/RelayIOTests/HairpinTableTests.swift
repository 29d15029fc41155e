import RelayIO
import STUN
import Testing

@testable import TURN  // HairpinRoute's memberwise initializer is internal: the engine makes routes

/// `HairpinTable` (Sources/RelayIO/HairpinTable.swift): the routes every worker publishes for its
/// UDP allocations, and the per-packet decision made under the table's lock (DESIGN §4).
@Suite("Hairpin table")
struct HairpinTableTests {
    static func address(_ text: String) -> TransportAddress { TransportAddress(text)! }

    static let relayed = address("127.0.0.1:20010")
    static let relayedV6 = address("[::1]:20010")
    static let client = address("192.0.2.10:40000")
    static let server = address("127.0.0.1:3478")
    /// Another allocation of this relay, sending to `relayed`.
    static let source = address("127.0.0.1:20020")
    /// Milliseconds: permissions and channels expire at explicit instants.
    static let now: Int64 = 1_000_000

    static func route(
        permissionUntil: Int64 = now + 300_000, channel: (UInt16, Int64)? = nil, paired: Set<TransportAddress>? = nil
    ) -> HairpinRoute {
        HairpinRoute(
            client: client, server: server, permissions: [source.ip: permissionUntil],
            channels: channel.map { [source: (number: $0.0, expiry: $0.1)] } ?? [:], pairedPeers: paired)
    }

    enum Outcome: Equatable {
        case notOurs, refused
        case deliver(client: TransportAddress, server: TransportAddress, channel: UInt16?)
    }

    static func outcome(_ table: HairpinTable, to: TransportAddress = relayed, from: TransportAddress = source, at: Int64 = now)
        -> Outcome
    {
        switch table.delivery(to: to, from: from, now: at) {
        case .notOurs: .notOurs
        case .refused: .refused
        case .deliver(let client, let server, let channel): .deliver(client: client, server: server, channel: channel)
        }
    }

    @Test func anAddressWithoutARouteIsNotOurs() {
        let table = HairpinTable()
        #expect(Self.outcome(table) == .notOurs && table.count == 0)
        table.publish(Self.route(), for: [Self.relayed])
        #expect(Self.outcome(table, to: Self.address("127.0.0.1:20011")) == .notOurs)
    }

    @Test func aPermittedSourceIsDeliveredToTheClientUnderEveryRelayedAddress() {
        let table = HairpinTable()
        table.publish(Self.route(), for: [Self.relayed, Self.relayedV6])
        #expect(table.count == 2)
        let expected = Outcome.deliver(client: Self.client, server: Self.server, channel: nil)
        #expect(Self.outcome(table) == expected)
        #expect(Self.outcome(table, to: Self.relayedV6) == expected)
        // A permission is for an IP address, any port (RFC 8656 §9).
        #expect(Self.outcome(table, from: Self.address("127.0.0.1:9")) == expected)
        #expect(Self.outcome(table, from: Self.address("127.0.0.2:20020")) == .refused)
    }

    @Test func permissionsExpireAtTheirInstant() {
        let table = HairpinTable()
        table.publish(Self.route(permissionUntil: Self.now + 300_000), for: [Self.relayed])
        #expect(Self.outcome(table, at: Self.now + 299_999) == .deliver(client: Self.client, server: Self.server, channel: nil))
        #expect(Self.outcome(table, at: Self.now + 300_000) == .refused)
    }

    @Test func aBoundChannelIsUsedUntilItExpires() {
        let table = HairpinTable()
        table.publish(Self.route(channel: (0x4001, Self.now + 600_000)), for: [Self.relayed])
        #expect(Self.outcome(table) == .deliver(client: Self.client, server: Self.server, channel: 0x4001))
        // The channel is for that exact peer address; another port of the same IP gets a Data indication.
        #expect(
            Self.outcome(table, from: Self.address("127.0.0.1:20021")) == .deliver(client: Self.client, server: Self.server, channel: nil))
        table.publish(Self.route(permissionUntil: Self.now + 900_000, channel: (0x4001, Self.now + 600_000)), for: [Self.relayed])
        #expect(Self.outcome(table, at: Self.now + 600_000) == .deliver(client: Self.client, server: Self.server, channel: nil))
    }

    @Test func underPairingOnlyThePartnersExactAddressGetsThrough() {
        let table = HairpinTable()
        table.publish(Self.route(paired: [Self.source]), for: [Self.relayed])
        #expect(Self.outcome(table) == .deliver(client: Self.client, server: Self.server, channel: nil))
        #expect(Self.outcome(table, from: Self.address("127.0.0.1:20021")) == .refused)  // permitted IP, not the partner
    }

    @Test func republishingReplacesAndNilRemoves() {
        let table = HairpinTable()
        table.publish(Self.route(), for: [Self.relayed, Self.relayedV6])
        table.publish(Self.route(permissionUntil: Self.now), for: [Self.relayed])  // its permission went
        #expect(Self.outcome(table) == .refused)
        #expect(Self.outcome(table, to: Self.relayedV6) == .deliver(client: Self.client, server: Self.server, channel: nil))
        table.publish(nil, for: [Self.relayed, Self.relayedV6])  // the allocation went
        #expect(table.count == 0 && Self.outcome(table) == .notOurs && Self.outcome(table, to: Self.relayedV6) == .notOurs)
    }
}
