import STUN

/// An address range in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`).
public struct CIDR: Hashable, Sendable, CustomStringConvertible {
    public var network: IPAddress
    public var prefix: Int

    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let ip = IPAddress(parts[0]) else { return nil }
        let maxPrefix = ip.family == .ipv4 ? 32 : 128
        let prefix: Int
        if parts.count == 2 {
            guard let p = Int(parts[1]), (0...maxPrefix).contains(p) else { return nil }
            prefix = p
        } else {
            prefix = maxPrefix
        }
        self.init(network: ip, prefix: prefix)
    }

    public init(network: IPAddress, prefix: Int) {
        self.network = network
        self.prefix = prefix
    }

    public func contains(_ ip: IPAddress) -> Bool {
        switch (network, ip) {
        case (.v4(let n), .v4(let a)):
            if prefix == 0 { return true }
            let mask = UInt32.max << UInt32(32 - prefix)
            return n & mask == a & mask
        case (.v6(let nh, let nl), .v6(let ah, let al)):
            if prefix == 0 { return true }
            if prefix <= 64 {
                let mask = UInt64.max << UInt64(64 - prefix)
                return nh & mask == ah & mask
            }
            let mask = prefix == 128 ? UInt64.max : UInt64.max << UInt64(128 - prefix)
            return nh == ah && nl & mask == al & mask
        default:
            return false
        }
    }

    public var description: String { "\(network)/\(prefix)" }
}

/// Which peers an allocation may reach (RFC 8656 §21.1 "the server SHOULD have a way to
/// restrict peers"; DESIGN §4). Denied unless globally routable, in every encoding an attacker
/// could use to smuggle an internal address past a naive check; an allow-list opens ranges.
public struct PeerPolicy: Sendable {
    /// Why a peer was refused; carried into metrics, never with the address itself.
    public enum Denial: String, Sendable, CaseIterable {
        case loopback, unspecified, privateUse, sharedAddressSpace, linkLocal, uniqueLocal, multicast, broadcast, reserved
        case relayAddress, listenerAddress
        /// Pairing enforced and the peer is not the partner's relayed or client address.
        case notPartner
    }

    /// Ranges that are allowed even though they would be denied (labs, tests).
    public var allow: [CIDR]
    /// The relay's own IPs (relayed and listening); denied unless allowed.
    public var ownAddresses: Set<IPAddress>
    /// The listening transport addresses: never a peer, whatever the allow-list says.
    public var listenerAddresses: Set<TransportAddress>

    public init(allow: [CIDR] = [], ownAddresses: Set<IPAddress> = [], listenerAddresses: Set<TransportAddress> = []) {
        self.allow = allow
        self.ownAddresses = ownAddresses
        self.listenerAddresses = listenerAddresses
    }

    /// `nil` when the peer may be used, otherwise why not.
    public func denial(for peer: TransportAddress) -> Denial? {
        if listenerAddresses.contains(peer) { return .listenerAddress }
        let embedded = PeerPolicy.embeddedIPv4(peer.ip)
        if allow.contains(where: { $0.contains(peer.ip) || (embedded.map($0.contains) ?? false) }) { return nil }
        if ownAddresses.contains(peer.ip) || (embedded.map { ownAddresses.contains(.v4($0.v4Value)) } ?? false) {
            return .relayAddress
        }
        if let embedded { return PeerPolicy.classify(embedded) }
        return PeerPolicy.classify(peer.ip)
    }

    /// The IPv4 address an IPv6 address stands for: IPv4-mapped (::ffff:0:0/96), IPv4-compatible
    /// (::/96), NAT64 (64:ff9b::/96, 64:ff9b:1::/48) and 6to4 (2002::/16).
    static func embeddedIPv4(_ ip: IPAddress) -> IPAddress? {
        guard case .v6(let hi, let lo) = ip else { return nil }
        let low32 = IPAddress.v4(UInt32(truncatingIfNeeded: lo))
        if hi == 0 && lo >> 32 == 0xFFFF { return low32 }  // ::ffff:a.b.c.d
        if hi == 0 && lo >> 32 == 0 && lo > 1 { return low32 }  // ::a.b.c.d (not :: or ::1)
        if hi == 0x0064_FF9B_0000_0000 && lo >> 32 == 0 { return low32 }  // 64:ff9b::/96
        if hi >> 16 == 0x0064_FF9B_0001 { return low32 }  // 64:ff9b:1::/48 (local-use; suffix placement varies)
        if hi >> 48 == 0x2002 { return .v4(UInt32(truncatingIfNeeded: hi >> 16)) }  // 2002:AABB:CCDD::/48
        return nil
    }

    static func classify(_ ip: IPAddress) -> Denial? {
        switch ip {
        case .v4(let a):
            func within(_ net: UInt32, _ bits: UInt32) -> Bool { a & (UInt32.max << (32 - bits)) == net }
            if a == 0xFFFF_FFFF { return .broadcast }
            if within(0x0000_0000, 8) { return .unspecified }  // 0.0.0.0/8 "this network"
            if within(0x7F00_0000, 8) { return .loopback }
            if within(0x0A00_0000, 8) || within(0xAC10_0000, 12) || within(0xC0A8_0000, 16) { return .privateUse }
            if within(0x6440_0000, 10) { return .sharedAddressSpace }  // 100.64.0.0/10 CGNAT
            if within(0xA9FE_0000, 16) { return .linkLocal }
            if within(0xE000_0000, 4) { return .multicast }
            if within(0xF000_0000, 4) { return .reserved }  // 240.0.0.0/4
            if within(0xC000_0000, 24) || within(0xC000_0200, 24) || within(0xC058_6300, 24)
                || within(0xC612_0000, 15) || within(0xC633_6400, 24) || within(0xCB00_7100, 24)
            {
                return .reserved  // IETF assignments, TEST-NETs, 6to4 relay anycast, benchmarking
            }
            return nil
        case .v6(let hi, let lo):
            if hi == 0 && lo == 0 { return .unspecified }
            if hi == 0 && lo == 1 { return .loopback }
            let top16 = hi >> 48
            if top16 & 0xFFC0 == 0xFE80 || top16 & 0xFFC0 == 0xFEC0 { return .linkLocal }  // fe80::/10, fec0::/10
            if top16 & 0xFE00 == 0xFC00 { return .uniqueLocal }  // fc00::/7
            if top16 & 0xFF00 == 0xFF00 { return .multicast }
            if top16 & 0xE000 != 0x2000 { return .reserved }  // outside 2000::/3 global unicast
            if hi >> 32 == 0x2001_0DB8 { return .reserved }  // 2001:db8::/32 documentation
            if hi >> 44 == 0x3_FFF0 { return .reserved }  // 3fff::/20 documentation (RFC 9637)
            if top16 == 0x2001 && (hi >> 32) & 0xFFFF < 0x0200 {
                return .reserved  // 2001::/23 IETF protocol assignments (Teredo, ORCHID, ...)
            }
            return nil
        }
    }
}

extension IPAddress {
    var v4Value: UInt32 {
        if case .v4(let a) = self { return a }
        return 0
    }
}
