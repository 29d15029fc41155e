import STUN

/// Long-term credential checks (RFC 8489 §9.2) with stateless nonces, static users and TURN REST
/// ephemeral credentials (`username = "<unix-expiry>:<identity>"`,
/// `password = base64(HMAC-SHA1(secret, username))`, as coturn's `use-auth-secret`).
public struct Authenticator: Sendable {
    /// A request that passed the checks: who, and the key to sign the response with.
    public struct Credential: Sendable {
        public var username: String
        public var key: [UInt8]
    }

    /// Why a request was not authenticated, as the RFC answers it.
    public enum Failure: Error, Sendable {
        /// No integrity at all: challenge with 401, REALM, NONCE, PASSWORD-ALGORITHMS.
        case challenge
        /// 400: integrity without the attributes that go with it, or mismatched algorithms.
        case badRequest(String)
        /// 438: a nonce this server did not issue or that has expired.
        case staleNonce
        /// 401 with a new challenge: unknown user, expired credential, wrong password.
        case unauthorized(String)
    }

    public var realm: String
    /// Static users: name → password.
    public var users: [String: String]
    /// TURN REST shared secrets; any of them may sign a credential (rotation).
    public var secrets: [String]
    public var nonceLifetimeSeconds: Int64
    /// Key of the nonce MAC; workers of one process share it so any can check any nonce.
    public var nonceKey: [UInt8]
    /// Offered in order of preference (RFC 8489 §9.2.3).
    public var algorithms: [PasswordAlgorithm] = [.sha256, .md5]

    /// USERHASH (RFC 8489 §14.4) → static username.
    private var userhashes: [[UInt8]: String] = [:]

    public init(realm: String, users: [String: String], secrets: [String], nonceLifetimeSeconds: Int64, nonceKey: [UInt8]) {
        self.realm = realm
        self.users = users
        self.secrets = secrets
        self.nonceLifetimeSeconds = nonceLifetimeSeconds
        self.nonceKey = nonceKey
        for name in users.keys {
            userhashes[STUNCrypto.sha256(Array("\(name):\(realm)".utf8))] = name
        }
    }

    // MARK: Nonces (RFC 8489 §9.2: "obMatJos2" cookie + 24-bit security features)

    static let nonceCookie = NonceSecurityFeatures.cookie
    /// Features: password algorithms (bit 0) and username anonymity (bit 1).
    static let nonceFeatures = Base64.encode([0xC0, 0, 0])

    /// A nonce valid for `nonceLifetimeSeconds`, bound to the client's IP address (not its port:
    /// a client that follows 300 over TCP or TLS comes back on a new connection, from a new port).
    /// 29 characters: the cookie and features, then base64 of the expiry (4 bytes, Unix seconds)
    /// and 8 bytes of an HMAC over it and the address — short, because it goes in every 401 an
    /// unauthenticated request draws (the amplification a spoofed source gets).
    public func makeNonce(for client: TransportAddress, now: TURNTime) -> String {
        let expiry = UInt32(clamping: max(0, now.unixSeconds + nonceLifetimeSeconds))
        let stamp = [
            UInt8(expiry >> 24), UInt8(truncatingIfNeeded: expiry >> 16), UInt8(truncatingIfNeeded: expiry >> 8),
            UInt8(truncatingIfNeeded: expiry),
        ]
        // Eight bytes in eleven characters (base64 without its one '='): a 24-character nonce, 28
        // bytes on the wire, so that a 401 stays within 4× the smallest request (issue 13).
        return Authenticator.nonceCookie + Authenticator.nonceFeatures
            + String(Base64.encode(stamp + nonceMAC(stamp, client: client)).dropLast())
    }

    /// 32 bits of HMAC: a nonce only proves that this relay issued it to this IP lately (the
    /// password proves the rest), and guessing one takes ~2³¹ requests, which `source-rate` meters.
    private func nonceMAC(_ stamp: [UInt8], client: TransportAddress) -> [UInt8] {
        Array(STUNCrypto.hmacSHA256(key: nonceKey, stamp + Array("|\(client.ip)".utf8)).prefix(4))
    }

    func nonceIsValid(_ nonce: String, client: TransportAddress, now: TURNTime) -> Bool {
        let prefix = Authenticator.nonceCookie + Authenticator.nonceFeatures
        guard nonce.hasPrefix(prefix), nonce.utf8.count == prefix.utf8.count + 11,
            let body = Base64.decode(String(nonce.dropFirst(prefix.count)) + "="), body.count == 8
        else {
            return false
        }
        let stamp = Array(body.prefix(4))
        guard STUNCrypto.constantTimeEqual(nonceMAC(stamp, client: client), Array(body.suffix(4))) else { return false }
        let expiry = Int64(stamp[0]) << 24 | Int64(stamp[1]) << 16 | Int64(stamp[2]) << 8 | Int64(stamp[3])
        return expiry > now.unixSeconds
    }

    // MARK: Checks

    /// Authenticates a request (RFC 8489 §9.2.4, in its order). `allocation` is the username and
    /// key of the allocation the request's 5-tuple holds: its client keeps the credential it
    /// allocated with (RFC 8656 §7.1 binds an allocation to it) although a reload has removed that
    /// static user or REST secret since — a live call is not cut off. A REST credential still ends
    /// at its expiry.
    public func authenticate(
        _ m: STUNMessage, client: TransportAddress, now: TURNTime, allocation: (username: String, key: [UInt8])? = nil
    ) -> Result<Credential, Failure> {
        guard m.contains(.messageIntegrity) || m.contains(.messageIntegritySHA256) else { return .failure(.challenge) }
        guard m.contains(.username) || m.contains(.userhash), let realm = m.text(.realm), let nonce = m.text(.nonce) else {
            return .failure(.badRequest("Missing USERNAME, REALM or NONCE"))
        }
        guard nonceIsValid(nonce, client: client, now: now) else { return .failure(.staleNonce) }
        let algorithm: PasswordAlgorithm
        do {
            let offered = try m.passwordAlgorithms()
            let chosen = try m.passwordAlgorithm()
            switch (offered, chosen) {
            case (nil, nil):
                algorithm = .md5  // RFC 5389 clients
            case (let offered?, let chosen?):
                guard offered == algorithms.map(\.rawValue) else {
                    return .failure(.badRequest("PASSWORD-ALGORITHMS does not match"))
                }
                guard let a = PasswordAlgorithm(rawValue: chosen), algorithms.contains(a) else {
                    return .failure(.badRequest("Unsupported PASSWORD-ALGORITHM"))
                }
                algorithm = a
            default:
                return .failure(.badRequest("PASSWORD-ALGORITHM and PASSWORD-ALGORITHMS go together"))
            }
        } catch {
            return .failure(.badRequest("Malformed password algorithm attributes"))
        }
        guard realm == self.realm else { return .failure(.unauthorized("Unknown realm")) }

        let username: String
        if let name = m.text(.username) {
            username = name
        } else if let hash = m.value(.userhash), let name = userhashes[Array(hash)] {
            username = name
        } else {
            return .failure(.unauthorized("Unknown user"))
        }
        if let allocation, allocation.username == username, Authenticator.restExpiry(username).map({ $0 > now.unixSeconds }) ?? true,
            m.verifyIntegrity(key: allocation.key) == true
        {
            return .success(Credential(username: username, key: allocation.key))
        }
        for password in passwords(for: username, now: now) {
            let key = algorithm.key(username: username, realm: realm, password: password)
            if m.verifyIntegrity(key: key) == true {
                return .success(Credential(username: username, key: key))
            }
        }
        return .failure(.unauthorized("Wrong credentials"))
    }

    /// The passwords that may belong to `username`: its static password, and one per REST secret
    /// while the username's expiry is in the future.
    func passwords(for username: String, now: TURNTime) -> [String] {
        var out: [String] = []
        if let p = users[username] { out.append(p) }
        if !secrets.isEmpty, let expiry = Authenticator.restExpiry(username), expiry > now.unixSeconds {
            for secret in secrets {
                out.append(Base64.encode(STUNCrypto.hmacSHA1(key: Array(secret.utf8), Array(username.utf8))))
            }
        }
        return out
    }

    /// The Unix expiry at the front of a TURN REST username (`"1700000000:robot:42"`).
    public static func restExpiry(_ username: String) -> Int64? {
        let head = username.prefix { $0 != ":" }
        guard !head.isEmpty, head.count <= 19, head.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int64(head)
    }

    /// A REST credential signed with `secret`, as a backend would issue it.
    public static func restCredential(secret: String, expiry: Int64, identity: String) -> (username: String, password: String) {
        let username = "\(expiry):\(identity)"
        return (username, Base64.encode(STUNCrypto.hmacSHA1(key: Array(secret.utf8), Array(username.utf8))))
    }
}
