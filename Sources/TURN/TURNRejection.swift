import STUN

/// Why the engine refuses a request, as the RFCs answer it: each case is one ERROR-CODE
/// (RFC 8489 §14.8, RFC 8656 §18) with its reason phrase. Request handlers throw this and
/// nothing else, so every refusal is an RFC code chosen where the check is, never a catch-all.
public enum TURNRejection: Error, Equatable, Sendable {
    /// 300 Try Alternate (RFC 8489 §10): go to this server (ALTERNATE-SERVER), over TLS with this
    /// certificate name (ALTERNATE-DOMAIN, §14.15). Sent only to an authenticated request.
    case tryAlternate(TransportAddress, domain: String?)
    /// 400 Bad Request, with what was wrong.
    case badRequest(String)
    /// 400 Bad Request: an attribute whose value does not have its type's layout.
    case malformedAttribute(STUNParseError)
    /// 403 Forbidden: the peer policy or pairing refuses, with why.
    case forbidden(String)
    /// 405 Mobility Forbidden (RFC 8016 §3.1): this relay gives no MOBILITY-TICKET.
    case mobilityForbidden
    /// 420 Unknown Attribute: comprehension-required attributes this server does not know
    /// (RFC 8489 §7.3.1), listed in UNKNOWN-ATTRIBUTES.
    case unknownAttributes([STUNAttributeType])
    /// 437 Allocation Mismatch (RFC 8656 §7.2, §7.3).
    case allocationMismatch
    /// 440 Address Family not Supported (RFC 8656 §7.2).
    case addressFamilyNotSupported
    /// 441 Wrong Credentials: not the user the allocation was made with (RFC 8656 §7.3).
    case wrongCredentials
    /// 442 Unsupported Transport Protocol (RFC 8656 §7.2).
    case unsupportedTransportProtocol
    /// 443 Peer Address Family Mismatch (RFC 8656 §9.1, §7.3).
    case peerAddressFamilyMismatch
    /// 486 Allocation Quota Reached (RFC 8656 §7.2).
    case allocationQuotaReached
    /// 508 Insufficient Capacity (RFC 8656 §7.2), with what ran out.
    case insufficientCapacity(String?)

    public var code: Int {
        switch self {
        case .tryAlternate: 300
        case .badRequest, .malformedAttribute: 400
        case .forbidden: 403
        case .mobilityForbidden: 405
        case .unknownAttributes: 420
        case .allocationMismatch: 437
        case .addressFamilyNotSupported: 440
        case .wrongCredentials: 441
        case .unsupportedTransportProtocol: 442
        case .peerAddressFamilyMismatch: 443
        case .allocationQuotaReached: 486
        case .insufficientCapacity: 508
        }
    }

    public var reason: String {
        switch self {
        case .tryAlternate: "Try Alternate"
        case .badRequest(let why): why
        case .malformedAttribute(.badAttribute(let type)): "Malformed attribute 0x" + String(type.rawValue, radix: 16)
        case .malformedAttribute: "Malformed attribute"
        case .forbidden(let why): why.isEmpty ? "Forbidden" : "Forbidden: \(why)"
        case .mobilityForbidden: "Mobility Forbidden"
        case .unknownAttributes: "Unknown Attribute"
        case .allocationMismatch: "Allocation Mismatch"
        case .addressFamilyNotSupported: "Address Family not Supported"
        case .wrongCredentials: "Wrong Credentials"
        case .unsupportedTransportProtocol: "Unsupported Transport Protocol"
        case .peerAddressFamilyMismatch: "Peer Address Family Mismatch"
        case .allocationQuotaReached: "Allocation Quota Reached"
        case .insufficientCapacity(let what): what.map { "Insufficient Capacity: \($0)" } ?? "Insufficient Capacity"
        }
    }
}

/// An attribute read from a request: a layout error becomes 400 where it is read.
@inline(__always)
func parsed<T>(_ read: @autoclosure () throws(STUNParseError) -> T) throws(TURNRejection) -> T {
    do { return try read() } catch { throw .malformedAttribute(error) }
}
