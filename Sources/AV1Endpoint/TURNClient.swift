import Foundation
import STUN

/// The endpoint's side of TURN (RFC 8656 §6–§12): an allocation on the relay, a permission and a
/// channel to the peer, refreshes, and ChannelData/Data indications both ways.
final class TURNClient {
    /// Replaced when the endpoint roams to a new address (RFC 8016, `roam(to:)`).
    private(set) var connection: RelayConnection
    let username: String
    let password: String
    var realm = ""
    var nonce = ""
    var key: [UInt8] = []
    /// The password algorithm in use (RFC 8489 §9.2): SHA-256 when the relay offers it, and the
    /// list it offered, echoed in every request; MD5 (RFC 5389's) otherwise.
    private(set) var algorithm = PasswordAlgorithm.md5
    private var offeredAlgorithms: [UInt16]?
    private(set) var relayed: TransportAddress?
    private(set) var mapped: TransportAddress?
    private(set) var lifetime: UInt32 = 600
    /// RFC 8016: the relay's latest MOBILITY-TICKET, when the Allocate asked for one.
    private(set) var ticket: [UInt8]?
    static let channel: UInt16 = 0x4000
    private var peer: TransportAddress?
    /// Messages that arrived while waiting for a response: handed to the endpoint later.
    private(set) var backlog: [[UInt8]] = []

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// 300 Try Alternate to an authenticated Allocate (RFC 8489 §10): the relay names another.
    struct Redirect: Error, CustomStringConvertible {
        var server: TransportAddress
        var domain: String?
        var description: String { "redirected to \(server)" }
    }

    init(connection: RelayConnection, username: String, password: String) {
        self.connection = connection
        self.username = username
        self.password = password
    }

    /// Sends a request and waits for its answer, retransmitting over UDP (RFC 8489 §6.2.1,
    /// shortened: 200 ms, doubling, 6 tries). Learns realm and nonce from 401/438 and retries.
    func transact(_ method: STUNMethod, _ build: (inout STUNMessageBuilder) -> Void) throws -> STUNMessage {
        for _ in 0..<3 {
            var b = STUNMessageBuilder(method: method, class: .request, transactionID: .random())
            build(&b)
            if !nonce.isEmpty {
                b.append(.username, text: username)
                b.append(.realm, text: realm)
                b.append(.nonce, text: nonce)
                if let offered = offeredAlgorithms {
                    // The list exactly as offered (parameters are empty for both known algorithms).
                    b.append(.passwordAlgorithms, offered.flatMap { [UInt8($0 >> 8), UInt8(truncatingIfNeeded: $0), 0, 0] })
                    b.appendPasswordAlgorithm(algorithm)
                }
                if algorithm == .sha256 { b.appendMessageIntegritySHA256(key: key) } else { b.appendMessageIntegrity(key: key) }
            }
            b.appendFingerprint()
            let response = try roundTrip(b.bytes, transactionID: b.transactionID)
            if let code = try? response.errorCode()?.code, code == 401 || code == 438, let r = response.text(.realm),
                let n = response.text(.nonce), code == 438 || nonce.isEmpty
            {
                realm = r
                nonce = n
                try chooseAlgorithm(response)
                key = algorithm.key(username: username, realm: realm, password: password)
                continue
            }
            return response
        }
        throw Failure(description: "\(method.rawValue): the relay kept refusing the credentials")
    }

    /// SHA-256 when the challenge lists it; MD5 when the relay offers no list. A nonce whose
    /// security features (its "obMatJos2" cookie) say the relay has a list, on a challenge that
    /// lacks one, was tampered with on the way: refused, not downgraded (RFC 8489 §9.2.4).
    private func chooseAlgorithm(_ challenge: STUNMessage) throws {
        let cookie = NonceSecurityFeatures.cookie
        var promised = false
        if nonce.hasPrefix(cookie), let features = Data(base64Encoded: String(nonce.dropFirst(cookie.count).prefix(4))),
            let first = features.first
        {
            promised = first & 0x80 != 0
        }
        let listed = (try? challenge.passwordAlgorithms()) ?? nil
        guard let listed, !listed.isEmpty else {
            if promised { throw Failure(description: "the relay's nonce promises PASSWORD-ALGORITHMS, its challenge has none: refused") }
            algorithm = .md5
            offeredAlgorithms = nil
            return
        }
        let known = listed.compactMap(PasswordAlgorithm.init(rawValue:))
        guard let chosen = known.contains(.sha256) ? .sha256 : known.first else {
            throw Failure(description: "the relay offers no password algorithm this client knows")
        }
        algorithm = chosen
        offeredAlgorithms = listed
    }

    private func roundTrip(_ request: [UInt8], transactionID: TransactionID) throws -> STUNMessage {
        var wait: Int32 = 200
        for _ in 0..<6 {
            try connection.send(request)
            let deadline = Date().addingTimeInterval(Double(wait) / 1000)
            while Date() < deadline {
                guard let bytes = try connection.receive(timeoutMillis: max(1, Int32(deadline.timeIntervalSinceNow * 1000))) else {
                    continue
                }
                if let m = try? STUNMessage(parsing: bytes), m.transactionID == transactionID,
                    m.messageClass == .successResponse || m.messageClass == .errorResponse
                {
                    return m
                }
                backlog.append(bytes)
            }
            if connection.transport == .udp { wait *= 2 } else { wait = 4000 }
        }
        throw Failure(description: "no answer from the relay at \(connection.server)")
    }

    /// Takes what arrived while a request was outstanding.
    func takeBacklog() -> [[UInt8]] {
        defer { backlog.removeAll() }
        return backlog
    }

    /// `mobility`: ask for a MOBILITY-TICKET (RFC 8016 §3.1), to be able to `roam` later.
    func allocate(mobility: Bool = false) throws {
        let r = try transact(.allocate) { b in
            b.append(.requestedTransport, [17, 0, 0, 0])
            if mobility { b.append(.mobilityTicket, []) }
        }
        if (try? r.errorCode())?.code == 300, let server = try? r.plainAddress(.alternateServer) {
            // Only an answer that proves it knows our key may send us elsewhere (RFC 8489 §10).
            guard !key.isEmpty, r.verifyIntegrity(key: key) == true else {
                throw Failure(description: "Allocate: a 300 without valid MESSAGE-INTEGRITY, not followed")
            }
            throw Redirect(server: server, domain: r.text(.alternateDomain))
        }
        guard r.messageClass == .successResponse, let relayed = try? r.xorAddress(.xorRelayedAddress) else {
            throw Failure(description: "Allocate refused: \(describe(r))")
        }
        self.relayed = relayed
        mapped = try? r.xorAddress(.xorMappedAddress)
        lifetime = (try? r.uint32(.lifetime)) ?? 600
        if mobility {
            guard let t = r.value(.mobilityTicket), !t.isEmpty else {
                throw Failure(description: "Allocate: the relay gave no MOBILITY-TICKET (mobility = off?)")
            }
            ticket = Array(t)
        }
    }

    /// RFC 8016 §3.2: the endpoint's address changed. From `connection` (the new 5-tuple), a
    /// Refresh with the ticket takes the allocation along — the same relayed address, permission
    /// and channel — and brings the next ticket. The nonce was bound to the old address: the 438
    /// on the way is expected. Returns how long the move took (ms).
    func roam(to connection: RelayConnection) throws -> Double {
        guard let ticket else { throw Failure(description: "roam: the allocation has no MOBILITY-TICKET") }
        let old = self.connection
        self.connection = connection
        let started = Date()
        let r: STUNMessage
        do {
            r = try transact(.refresh) { b in
                b.append(.lifetime, uint32: 600)
                b.append(.mobilityTicket, ticket)
            }
        } catch {
            self.connection = old
            throw error
        }
        guard r.messageClass == .successResponse, r.verifyIntegrity(key: key) != false else {
            self.connection = old
            throw Failure(description: "Refresh with the MOBILITY-TICKET refused: \(describe(r))")
        }
        if let next = r.value(.mobilityTicket), !next.isEmpty { self.ticket = Array(next) }
        return Date().timeIntervalSince(started) * 1000
    }

    /// Permission and channel to the peer (ChannelBind installs the permission too, §12.2).
    func bind(peer: TransportAddress) throws {
        let r = try transact(.channelBind) { b in
            b.append(.channelNumber, [UInt8(TURNClient.channel >> 8), UInt8(TURNClient.channel & 0xFF), 0, 0])
            b.append(.xorPeerAddress, xorAddress: peer)
        }
        guard r.messageClass == .successResponse else { throw Failure(description: "ChannelBind refused: \(describe(r))") }
        self.peer = peer
    }

    /// Refresh (with extra attributes such as link telemetry); lifetime 0 ends the allocation.
    func refresh(lifetime: UInt32?, _ extra: (inout STUNMessageBuilder) -> Void = { _ in }) throws {
        let r = try transact(.refresh) { b in
            extra(&b)
            if let lifetime { b.append(.lifetime, uint32: lifetime) }
        }
        guard r.messageClass == .successResponse || (lifetime == 0 && (try? r.errorCode())?.code == 437) else {
            throw Failure(description: "Refresh refused: \(describe(r))")
        }
        if let next = r.value(.mobilityTicket), !next.isEmpty { ticket = Array(next) }
        if let peer, lifetime != 0 { try bind(peer: peer) }  // keeps channel and permission alive
    }

    /// Wraps a datagram for the peer as ChannelData (padded on streams).
    func wrap(_ payload: [UInt8]) -> [UInt8] {
        let padded = connection.transport != .udp
        var out = [UInt8](repeating: 0, count: STUNDataPath.channelDataSize(payload: payload.count, padded: padded))
        out.withUnsafeMutableBytes { o in
            payload.withUnsafeBytes { p in
                _ = STUNDataPath.writeChannelData(into: o, channel: TURNClient.channel, payload: p, padded: padded)
            }
        }
        return out
    }

    /// The peer's datagram inside a message from the relay (ChannelData or a Data indication).
    func unwrap(_ message: [UInt8]) -> [UInt8]? {
        guard let first = message.first else { return nil }
        if STUNDataPath.isChannelData(firstByte: first) {
            guard message.count >= 4 else { return nil }
            let length = Int(message[2]) << 8 | Int(message[3])
            guard length <= message.count - 4 else { return nil }
            return Array(message[4..<(4 + length)])
        }
        guard let m = try? STUNMessage(parsing: message), m.method == .data, m.messageClass == .indication else { return nil }
        return m.value(.data).map(Array.init)
    }

    private func describe(_ m: STUNMessage) -> String {
        guard let e = try? m.errorCode() else { return "unexpected answer" }
        return "\(e.code) \(e.reason)"
    }
}
