import CAV1Digest

/// The digests STUN needs, through OpenSSL.
public enum STUNCrypto {
    public static func hmacSHA1(key: [UInt8], _ data: [UInt8]) -> [UInt8] { mac(av1_hmac_sha1, 20, key, data) }

    public static func hmacSHA256(key: [UInt8], _ data: [UInt8]) -> [UInt8] { mac(av1_hmac_sha256, 32, key, data) }

    private static func mac(
        _ f: (UnsafeRawPointer?, Int, UnsafeRawPointer?, Int, UnsafeMutablePointer<UInt8>?) -> Int32, _ size: Int,
        _ key: [UInt8], _ data: [UInt8]
    ) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        key.withUnsafeBytes { k in data.withUnsafeBytes { d in _ = f(k.baseAddress, k.count, d.baseAddress, d.count, &out) } }
        return out
    }

    public static func md5(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        data.withUnsafeBytes { d in _ = av1_md5(d.baseAddress, d.count, &out) }
        return out
    }

    public static func sha256(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        data.withUnsafeBytes { d in _ = av1_sha256(d.baseAddress, d.count, &out) }
        return out
    }

    public static func randomBytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var g = SystemRandomNumberGenerator()
        if out.withUnsafeMutableBytes({ av1_random($0.baseAddress, $0.count) }) != 0 {
            for i in out.indices { out[i] = g.next() }
        }
        return out
    }

    /// One AES-256 block: 16 bytes in, 16 out (`encrypt` false: decrypt).
    public static func aes256Block(_ block: [UInt8], key: [UInt8], encrypt: Bool) -> [UInt8] {
        precondition(key.count == 32 && block.count == 16, "AES-256 takes a 32-byte key and 16-byte blocks")
        var out = [UInt8](repeating: 0, count: 16)
        let rc = av1_aes256_block(key, block, &out, encrypt ? 1 : 0)
        precondition(rc == 0, "AES-256 failed")
        return out
    }

    /// Constant-time equality (MAC comparison must not leak where bytes differ).
    public static func constantTimeEqual(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for (x, y) in zip(a, b) { diff |= x ^ y }
        return diff == 0
    }
}

/// Password algorithms (RFC 8489 §18.5).
/// RFC 8489 §9.2: a nonce that starts with this cookie goes on with four base64 characters of
/// 24 security-feature bits (bit 0, the first: the server offers PASSWORD-ALGORITHMS).
public enum NonceSecurityFeatures {
    public static let cookie = "obMatJos2"
}

public enum PasswordAlgorithm: UInt16, Sendable, CaseIterable {
    case md5 = 0x0001
    case sha256 = 0x0002

    /// The long-term key (RFC 8489 §9.2.2): the digest of `username ":" realm ":" password`
    /// (OpaqueString preparation of ASCII credentials is the identity).
    public func key(username: String, realm: String, password: String) -> [UInt8] {
        let input = Array("\(username):\(realm):\(password)".utf8)
        switch self {
        case .md5: return STUNCrypto.md5(input)
        case .sha256: return STUNCrypto.sha256(input)
        }
    }
}

extension STUNMessage {
    /// Checks MESSAGE-INTEGRITY-SHA256 if present, else MESSAGE-INTEGRITY (RFC 8489 §9.2.4 and
    /// §14.5/§14.6). `nil` when the message carries neither.
    public func verifyIntegrity(key: [UInt8]) -> Bool? {
        if let slot = slot(.messageIntegritySHA256) {
            let expected = mac(over: slot, sha256: true, key: key)
            return STUNCrypto.constantTimeEqual(expected.prefix(slot.value.count), bytes[slot.value])
        }
        if let slot = slot(.messageIntegrity) {
            return STUNCrypto.constantTimeEqual(mac(over: slot, sha256: false, key: key), bytes[slot.value])
        }
        return nil
    }

    /// Which integrity attribute the message uses (responses answer with the same one).
    public var usesIntegritySHA256: Bool { contains(.messageIntegritySHA256) }

    private func mac(over slot: STUNAttributeSlot, sha256: Bool, key: [UInt8]) -> [UInt8] {
        var covered = Array(bytes[0..<slot.offset])
        let length = slot.value.upperBound + ((4 - slot.value.count % 4) % 4) - STUNHeader.size
        covered[2] = UInt8(truncatingIfNeeded: length >> 8)
        covered[3] = UInt8(truncatingIfNeeded: length)
        return sha256 ? STUNCrypto.hmacSHA256(key: key, covered) : STUNCrypto.hmacSHA1(key: key, covered)
    }
}
