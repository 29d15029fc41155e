import STUN

/// What the engine needs to decide: realm and credentials, lifetimes, peer policy.
public struct TURNEngineConfiguration: Sendable {
    public var realm: String
    /// SOFTWARE in responses (RFC 8489 §14.14); `nil` leaves it out.
    public var software: String?
    /// Allocation lifetimes in seconds (RFC 8656 §3.2: default 600, maximum 3600 recommended).
    public var defaultLifetime: Int64 = 600
    public var maxLifetime: Int64 = 3600
    /// Permission lifetime (RFC 8656 §9: 300 s, not configurable by the client).
    public var permissionLifetime: Int64 = 300
    /// Channel binding lifetime (RFC 8656 §12: 600 s).
    public var channelLifetime: Int64 = 600
    /// Channel numbers a client may bind: RFC 8656 §12 allows 0x4000–0x4FFF; RFC 5766 allowed up
    /// to 0x7FFF, and older clients (coturn's turnutils among them) still pick from there.
    public var channelRange: ClosedRange<UInt16> = STUNDataPath.channelRange
    /// Pairing enforcement (DESIGN §4): allocations need a `robot:<id>` or `app:<id>` identity and
    /// may reach only their partner's relayed or client address; everything else is 403.
    public var pairing = false
    /// Deliver between two allocations of this relay in process (DESIGN §4) instead of through
    /// the kernel and back; same bytes to the endpoints either way.
    public var hairpin = true
    /// The fleet this relay belongs to (DESIGN §8), if any: with pairing on, a device's first
    /// Allocate here is redirected to its home relay (300 Try Alternate).
    public var fleet: FleetView?
    /// Draining (DESIGN §8): live allocations go on; a device with nothing here is sent to its
    /// new home, and with no home to send it to a new Allocate gets 403.
    public var draining = false
    /// The fleet channel's shared secret (HMAC key): with it, partners on two members connect.
    public var fleetKey: [UInt8]?
    /// Bytes per second each allocation may send to its peers (`max-bps`, as coturn's; 0: no
    /// limit): a token bucket of one second's worth; what does not fit is dropped (`quota`), so a
    /// relay cannot be turned into a flood cannon by its own clients.
    public var maxBytesPerSecond = 0
    /// The key that seals MOBILITY-TICKETs (RFC 8016; 32 bytes, the same in every worker of one
    /// relay, never written anywhere); nil: mobility is off and an Allocate asking for it gets 405.
    public var mobilityKey: [UInt8]?
    /// How long a mobile allocation outlives its closed TCP/TLS connection, waiting for the client
    /// to come back with its ticket (seconds).
    public var mobilityGrace: Int64 = 120
    /// Requests per second per source address that draw a 401 or make an Allocate, and how many
    /// at once (SourceLimiter; 0: unlimited). Per worker.
    public var sourceRate = 0
    public var sourceBurst = 0
    public var authenticator: Authenticator
    public var peerPolicy: PeerPolicy

    /// A channel number or peer stays unavailable for another binding this long after expiry.
    static let channelQuarantineMillis: Int64 = 300_000

    public init(realm: String, authenticator: Authenticator, peerPolicy: PeerPolicy, software: String? = "av1relay") {
        self.realm = realm
        self.authenticator = authenticator
        self.peerPolicy = peerPolicy
        self.software = software
    }
}
