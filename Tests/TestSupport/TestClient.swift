import Glibc
import STUN
import TURN

/// A scripted TURN client for tests: builds requests with long-term credentials, remembers the
/// realm and nonce a 401/438 taught it, and checks responses' integrity. No I/O: callers carry
/// the bytes over an engine or a socket.
public struct TestClient {
    public var username: String
    public var password: String
    public var realm: String?
    public var nonce: String?
    /// Use PASSWORD-ALGORITHM SHA-256 and MESSAGE-INTEGRITY-SHA256 instead of MD5/SHA-1.
    public var sha256 = false
    public var fingerprint = false

    /// A client with a TURN REST credential for `identity`, signed with `secret`, valid for ten
    /// minutes from the wall clock's now.
    public static func rest(secret: String, identity: String, validFor seconds: Int64 = 600) -> TestClient {
        let expiry = Int64(time(nil)) + seconds
        let c = Authenticator.restCredential(secret: secret, expiry: expiry, identity: identity)
        return TestClient(username: c.username, password: c.password)
    }

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    public var key: [UInt8] {
        (sha256 ? PasswordAlgorithm.sha256 : .md5).key(username: username, realm: realm ?? "", password: password)
    }

    /// A request with `attributes` added by `build`, signed if a nonce is known.
    public func request(
        _ method: STUNMethod, transactionID: TransactionID = .random(), _ build: (inout STUNMessageBuilder) -> Void = { _ in }
    ) -> [UInt8] {
        var b = STUNMessageBuilder(method: method, class: .request, transactionID: transactionID)
        build(&b)
        if let realm, let nonce {
            b.append(.username, text: username)
            b.append(.realm, text: realm)
            b.append(.nonce, text: nonce)
            if sha256 {
                b.appendPasswordAlgorithms([.sha256, .md5])
                b.appendPasswordAlgorithm(.sha256)
                b.appendMessageIntegritySHA256(key: key)
            } else {
                b.appendMessageIntegrity(key: key)
            }
        }
        if fingerprint { b.appendFingerprint() }
        return b.bytes
    }

    /// Learns REALM and NONCE from a 401 or 438 answer. Returns whether it learned anything.
    @discardableResult
    public mutating func learn(from response: STUNMessage) -> Bool {
        guard let code = try? response.errorCode()?.code, code == 401 || code == 438,
            let realm = response.text(.realm), let nonce = response.text(.nonce)
        else { return false }
        self.realm = realm
        self.nonce = nonce
        return true
    }

    /// Standard Allocate attributes: REQUESTED-TRANSPORT UDP and `extra`.
    public func allocate(transactionID: TransactionID = .random(), _ extra: (inout STUNMessageBuilder) -> Void = { _ in }) -> [UInt8] {
        request(.allocate, transactionID: transactionID) { b in
            b.append(.requestedTransport, [17, 0, 0, 0])
            extra(&b)
        }
    }

    public func createPermission(_ peers: [TransportAddress]) -> [UInt8] {
        request(.createPermission) { b in for p in peers { b.append(.xorPeerAddress, xorAddress: p) } }
    }

    public func channelBind(_ number: UInt16, _ peer: TransportAddress) -> [UInt8] {
        request(.channelBind) { b in
            b.append(.channelNumber, [UInt8(number >> 8), UInt8(number & 0xFF), 0, 0])
            b.append(.xorPeerAddress, xorAddress: peer)
        }
    }

    public func refresh(lifetime: UInt32?) -> [UInt8] {
        request(.refresh) { b in if let lifetime { b.append(.lifetime, uint32: lifetime) } }
    }

    public static func sendIndication(to peer: TransportAddress, data: [UInt8]) -> [UInt8] {
        var b = STUNMessageBuilder(method: .send, class: .indication, transactionID: .random())
        b.append(.xorPeerAddress, xorAddress: peer)
        b.append(.data, data)
        return b.bytes
    }

    public static func channelData(_ number: UInt16, _ payload: [UInt8], padded: Bool = false) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: STUNDataPath.channelDataSize(payload: payload.count, padded: padded))
        out.withUnsafeMutableBytes { o in
            payload.withUnsafeBytes { p in _ = STUNDataPath.writeChannelData(into: o, channel: number, payload: p, padded: padded) }
        }
        return out
    }
}

extension STUNMessage {
    /// The error code of an error response, or nil.
    public var code: Int? { (try? errorCode())?.code }

    public static func parse(_ bytes: [UInt8]) -> STUNMessage? { try? STUNMessage(parsing: bytes) }
}
