/// STUN attribute types (IANA "STUN Attributes"; RFC 8489 §18.3, RFC 8656 §18, RFC 8445 §16.1).
///
/// Types below 0x8000 are comprehension-required: a request carrying one this server does not
/// know is answered with 420 and UNKNOWN-ATTRIBUTES (RFC 8489 §6.3.1).
public struct STUNAttributeType: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    public var isComprehensionRequired: Bool { rawValue < 0x8000 }

    // RFC 8489
    public static let mappedAddress = Self(0x0001)
    public static let username = Self(0x0006)
    public static let messageIntegrity = Self(0x0008)
    public static let errorCode = Self(0x0009)
    public static let unknownAttributes = Self(0x000A)
    public static let realm = Self(0x0014)
    public static let nonce = Self(0x0015)
    public static let messageIntegritySHA256 = Self(0x001C)
    public static let passwordAlgorithm = Self(0x001D)
    public static let userhash = Self(0x001E)
    public static let xorMappedAddress = Self(0x0020)
    public static let passwordAlgorithms = Self(0x8002)
    public static let alternateDomain = Self(0x8003)
    public static let software = Self(0x8022)
    public static let alternateServer = Self(0x8023)
    public static let fingerprint = Self(0x8028)
    // RFC 8656
    public static let channelNumber = Self(0x000C)
    public static let lifetime = Self(0x000D)
    public static let xorPeerAddress = Self(0x0012)
    public static let data = Self(0x0013)
    public static let xorRelayedAddress = Self(0x0016)
    public static let requestedAddressFamily = Self(0x0017)
    public static let evenPort = Self(0x0018)
    public static let requestedTransport = Self(0x0019)
    public static let dontFragment = Self(0x001A)
    public static let reservationToken = Self(0x0022)
    public static let additionalAddressFamily = Self(0x8000)
    public static let addressErrorCode = Self(0x8001)
    public static let icmp = Self(0x8004)
    // RFC 8016 (mobility; comprehension-optional)
    public static let mobilityTicket = Self(0x8030)
    // RFC 8445 (ICE connectivity checks pass through and may reach us as Binding requests)
    public static let priority = Self(0x0024)
    public static let useCandidate = Self(0x0025)
    public static let iceControlled = Self(0x8029)
    public static let iceControlling = Self(0x802A)

    /// The comprehension-required attributes this implementation understands.
    public static let understood: Set<STUNAttributeType> = [
        .mappedAddress, .username, .messageIntegrity, .errorCode, .unknownAttributes, .realm, .nonce,
        .messageIntegritySHA256, .passwordAlgorithm, .userhash, .xorMappedAddress, .channelNumber,
        .lifetime, .xorPeerAddress, .data, .xorRelayedAddress, .requestedAddressFamily, .evenPort,
        .requestedTransport, .dontFragment, .reservationToken, .priority, .useCandidate,
    ]
}
