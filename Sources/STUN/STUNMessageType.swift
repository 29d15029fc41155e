/// STUN methods (RFC 8489 §18.2, RFC 8656 §17).
public struct STUNMethod: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue & 0x0FFF }

    public static let binding = STUNMethod(rawValue: 0x001)
    public static let allocate = STUNMethod(rawValue: 0x003)
    public static let refresh = STUNMethod(rawValue: 0x004)
    public static let send = STUNMethod(rawValue: 0x006)
    public static let data = STUNMethod(rawValue: 0x007)
    public static let createPermission = STUNMethod(rawValue: 0x008)
    public static let channelBind = STUNMethod(rawValue: 0x009)
}

extension STUNMethod: CustomStringConvertible {
    /// The method's name as the RFCs write it (logs and metrics labels), or its number.
    public var description: String {
        switch self {
        case .binding: "binding"
        case .allocate: "allocate"
        case .refresh: "refresh"
        case .send: "send"
        case .data: "data"
        case .createPermission: "create-permission"
        case .channelBind: "channel-bind"
        default: "0x" + String(rawValue, radix: 16)
        }
    }
}

/// STUN message classes (RFC 8489 §5).
public enum STUNClass: UInt16, Sendable {
    case request = 0b00
    case indication = 0b01
    case successResponse = 0b10
    case errorResponse = 0b11
}

/// The 14-bit message type: method bits interleaved with the two class bits (RFC 8489 §5, figure 3).
public struct STUNMessageType: Hashable, Sendable {
    public var method: STUNMethod
    public var messageClass: STUNClass

    public init(method: STUNMethod, class messageClass: STUNClass) {
        self.method = method
        self.messageClass = messageClass
    }

    public init(rawValue: UInt16) {
        let m = rawValue & 0x000F | (rawValue & 0x00E0) >> 1 | (rawValue & 0x3E00) >> 2
        let c = (rawValue & 0x0010) >> 4 | (rawValue & 0x0100) >> 7
        self.method = STUNMethod(rawValue: m)
        self.messageClass = STUNClass(rawValue: c) ?? .request
    }

    public var rawValue: UInt16 {
        let m = method.rawValue
        let c = messageClass.rawValue
        return m & 0x000F | (m & 0x0070) << 1 | (m & 0x0F80) << 2 | (c & 1) << 4 | (c & 2) << 7
    }
}

/// The 96-bit transaction id (RFC 8489 §5).
public struct TransactionID: Hashable, Sendable {
    public var hi: UInt32
    public var lo: UInt64

    public init(hi: UInt32, lo: UInt64) {
        self.hi = hi
        self.lo = lo
    }

    /// Twelve network-order bytes.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 12 else { return nil }
        var hi: UInt32 = 0
        var lo: UInt64 = 0
        for (i, b) in bytes.enumerated() {
            if i < 4 { hi = hi << 8 | UInt32(b) } else { lo = lo << 8 | UInt64(b) }
        }
        self.init(hi: hi, lo: lo)
    }

    public var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(12)
        for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: hi >> UInt32(shift))) }
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: lo >> UInt64(shift))) }
        return out
    }

    /// A fresh random id (RFC 8489 §6: uniformly and randomly chosen).
    public static func random() -> TransactionID {
        var g = SystemRandomNumberGenerator()
        return TransactionID(hi: g.next(), lo: g.next())
    }
}
