/// An IP address as it travels in STUN attributes and in the engine's tables.
///
/// Plain value, no Foundation, no allocation: it is hashed on the packet path.
public enum IPAddress: Hashable, Sendable {
    /// IPv4, host byte order (`0x7F000001` is 127.0.0.1).
    case v4(UInt32)
    /// IPv6 as two 64-bit halves, host byte order (`hi` holds the first eight bytes).
    case v6(hi: UInt64, lo: UInt64)

    public var family: AddressFamily { if case .v4 = self { .ipv4 } else { .ipv6 } }

    /// The sixteen bytes of an IPv6 address, network order.
    public var bytes: [UInt8] {
        switch self {
        case .v4(let a):
            return [UInt8(a >> 24), UInt8(truncatingIfNeeded: a >> 16), UInt8(truncatingIfNeeded: a >> 8), UInt8(truncatingIfNeeded: a)]
        case .v6(let hi, let lo):
            var out = [UInt8]()
            out.reserveCapacity(16)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: hi >> UInt64(shift))) }
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: lo >> UInt64(shift))) }
            return out
        }
    }

    /// Builds an address from 4 or 16 network-order bytes.
    public init?(bytes: some Collection<UInt8>) {
        switch bytes.count {
        case 4:
            self = .v4(bytes.reduce(0) { $0 << 8 | UInt32($1) })
        case 16:
            var hi: UInt64 = 0
            var lo: UInt64 = 0
            for (i, b) in bytes.enumerated() {
                if i < 8 { hi = hi << 8 | UInt64(b) } else { lo = lo << 8 | UInt64(b) }
            }
            self = .v6(hi: hi, lo: lo)
        default:
            return nil
        }
    }

    /// Parses dotted-quad IPv4 or RFC 4291 text IPv6 (with `::` and an embedded IPv4 tail).
    public init?(_ text: some StringProtocol) {
        if let v4 = IPAddress.parseV4(Substring(text)) {
            self = .v4(v4)
            return
        }
        guard let v6 = IPAddress.parseV6(Substring(text)) else { return nil }
        self = v6
    }

    private static func parseV4(_ text: Substring) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                let octet = UInt32(part), octet <= 255
            else { return nil }
            value = value << 8 | octet
        }
        return value
    }

    private static func parseV6(_ text: Substring) -> IPAddress? {
        guard text.contains(":") else { return nil }
        var groups: [UInt16] = []
        var tail: [UInt16] = []
        var sawGap = false
        var halves: [Substring] = [text]
        if let gap = text.firstRange(of: "::") {
            halves = [text[..<gap.lowerBound], text[gap.upperBound...]]
            guard halves[1].firstRange(of: "::") == nil else { return nil }
        }
        func parseGroups(_ s: Substring, into out: inout [UInt16]) -> Bool {
            if s.isEmpty { return true }
            let fields = s.split(separator: ":", omittingEmptySubsequences: false)
            for (i, field) in fields.enumerated() {
                if i == fields.count - 1, field.contains("."), let v4 = parseV4(field) {
                    out.append(UInt16(v4 >> 16))
                    out.append(UInt16(truncatingIfNeeded: v4))
                    continue
                }
                guard !field.isEmpty, field.count <= 4, let g = UInt16(field, radix: 16) else { return false }
                out.append(g)
            }
            return true
        }
        guard parseGroups(halves[0], into: &groups) else { return nil }
        if halves.count == 2 {
            sawGap = true
            guard parseGroups(halves[1], into: &tail) else { return nil }
        }
        let total = groups.count + tail.count
        if sawGap {
            guard total <= 7 else { return nil }
            groups += [UInt16](repeating: 0, count: 8 - total) + tail
        } else {
            guard total == 8 else { return nil }
        }
        var hi: UInt64 = 0
        var lo: UInt64 = 0
        for (i, g) in groups.enumerated() {
            if i < 4 { hi = hi << 16 | UInt64(g) } else { lo = lo << 16 | UInt64(g) }
        }
        return .v6(hi: hi, lo: lo)
    }
}

extension IPAddress: CustomStringConvertible {
    public var description: String {
        switch self {
        case .v4(let a):
            return "\(a >> 24).\((a >> 16) & 0xFF).\((a >> 8) & 0xFF).\(a & 0xFF)"
        case .v6(let hi, let lo):
            let groups = (0..<8).map { i -> UInt16 in
                let half = i < 4 ? hi : lo
                return UInt16(truncatingIfNeeded: half >> UInt64((3 - i % 4) * 16))
            }
            // Compress the longest run of zero groups (RFC 5952).
            var best = (start: -1, length: 0)
            var i = 0
            while i < 8 {
                if groups[i] == 0 {
                    var j = i
                    while j < 8 && groups[j] == 0 { j += 1 }
                    if j - i > best.length && j - i > 1 { best = (i, j - i) }
                    i = j
                } else {
                    i += 1
                }
            }
            func hex(_ range: Range<Int>) -> String {
                groups[range].map { String($0, radix: 16) }.joined(separator: ":")
            }
            if best.start < 0 { return hex(0..<8) }
            return hex(0..<best.start) + "::" + hex((best.start + best.length)..<8)
        }
    }
}

/// Address family numbers as STUN encodes them (RFC 8489 §14.1, RFC 8656 §18.10).
public enum AddressFamily: UInt8, Sendable, Hashable {
    case ipv4 = 0x01
    case ipv6 = 0x02
}

/// An IP address and a port.
public struct TransportAddress: Hashable, Sendable {
    public var ip: IPAddress
    public var port: UInt16

    public init(ip: IPAddress, port: UInt16) {
        self.ip = ip
        self.port = port
    }

    public var family: AddressFamily { ip.family }

    /// Parses `1.2.3.4:5`, `[::1]:5`; `defaultPort` applies when the text has no port.
    public init?(_ text: some StringProtocol, defaultPort: UInt16? = nil) {
        let s = Substring(text)
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]"), let ip = IPAddress(s[s.index(after: s.startIndex)..<close]) else {
                return nil
            }
            let rest = s[s.index(after: close)...]
            if rest.isEmpty, let defaultPort {
                self.init(ip: ip, port: defaultPort)
                return
            }
            guard rest.hasPrefix(":"), let port = UInt16(rest.dropFirst()) else { return nil }
            self.init(ip: ip, port: port)
            return
        }
        if let ip = IPAddress(s) {
            guard let defaultPort else { return nil }
            self.init(ip: ip, port: defaultPort)
            return
        }
        guard let colon = s.lastIndex(of: ":"), let ip = IPAddress(s[..<colon]), case .v4 = ip,
            let port = UInt16(s[s.index(after: colon)...])
        else { return nil }
        self.init(ip: ip, port: port)
    }
}

extension TransportAddress: CustomStringConvertible {
    public var description: String {
        switch ip {
        case .v4: "\(ip):\(port)"
        case .v6: "[\(ip)]:\(port)"
        }
    }
}
