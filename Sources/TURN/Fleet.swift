import STUN

/// One relay of a fleet, as every member knows it (DESIGN §8): a name, and where clients reach
/// it over each transport (UDP and TCP share `address`; TLS may be elsewhere, with the domain
/// its certificate names).
public struct FleetMember: Hashable, Sendable {
    public var name: String
    /// UDP and TCP (RFC 8656 §3: the same port for both).
    public var address: TransportAddress
    public var tls: TransportAddress?
    /// The TLS certificate's name, sent as ALTERNATE-DOMAIN with a TLS redirect (RFC 8489 §14.15).
    public var tlsDomain: String?

    public init(name: String, address: TransportAddress, tls: TransportAddress? = nil, tlsDomain: String? = nil) {
        self.name = name
        self.address = address
        self.tls = tls
        self.tlsDomain = tlsDomain
    }

    /// Where a client on `transport` should go; nil when the member does not serve it.
    public func address(for transport: TransportProtocol) -> TransportAddress? {
        transport == .tls ? tls : address
    }
}

/// The live members as this relay sees them, and each device's home among them: rendezvous
/// (highest-random-weight) hashing of the device id, so that every relay computes the same home
/// with no shared state, and a change of members moves only the devices of the member that came
/// or went. The weight is SHA-256 of member name and device id: stable across processes and
/// machines (Swift's `Hasher` is seeded per process), and computed on Allocate only.
public struct FleetView: Hashable, Sendable {
    /// This relay's name among the members.
    public var selfName: String
    /// Live members, this one included while it serves (a draining relay leaves its own view).
    public var members: [FleetMember]

    public init(selfName: String, members: [FleetMember]) {
        self.selfName = selfName
        self.members = members
    }

    /// The device's home relay; nil with no members.
    public func home(of device: String) -> FleetMember? {
        members.max { a, b in
            let (wa, wb) = (Self.weight(a.name, device), Self.weight(b.name, device))
            return wa == wb ? a.name < b.name : wa < wb
        }
    }

    static func weight(_ member: String, _ device: String) -> UInt64 {
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        let digest = STUNCrypto.sha256(Array(member.utf8) + [0] + Array(device.utf8))
        return digest.prefix(8).reduce(0) { $0 << 8 | UInt64($1) }
    }
}
