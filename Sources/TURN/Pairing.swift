import STUN

/// Who a credential speaks for (DESIGN §3): the identity inside a TURN REST username
/// (`<expiry>:<identity>`) or a static username, and — in pairing form — a role and a device id.
public struct Identity: Hashable, Sendable {
    public enum Role: String, Sendable, Hashable {
        case robot, app

        public var partner: Role { self == .robot ? .app : .robot }
    }

    public var role: Role?
    public var device: String?

    /// `robot:<deviceId>` or `app:<deviceId>`, after the REST expiry if there is one.
    public init(username: String) {
        var identity = Substring(username)
        if Authenticator.restExpiry(username) != nil, let colon = identity.firstIndex(of: ":") {
            identity = identity[identity.index(after: colon)...]
        }
        for role in [Role.robot, .app] where identity.hasPrefix(role.rawValue + ":") {
            let device = identity.dropFirst(role.rawValue.count + 1)
            if !device.isEmpty && device.utf8.count <= 128 {
                self.role = role
                self.device = String(device)
            }
        }
    }

    public var isPaired: Bool { role != nil }
}

/// One allocation as the pairing registry knows it: enough for a partner to find it.
public struct PairingEntry: Hashable, Sendable {
    public var device: String
    public var role: Identity.Role
    /// Relayed addresses and the client's address (server-reflexive as the relay sees it).
    public var addresses: [TransportAddress]

    public init(device: String, role: Identity.Role, addresses: [TransportAddress]) {
        self.device = device
        self.role = role
        self.addresses = addresses
    }
}
