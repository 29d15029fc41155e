import STUN

/// Cross-relay pairing (DESIGN §8): partners whose clients did not follow 300 hold allocations on
/// two relays of a fleet. A CreatePermission or ChannelBind to an address of another member waits
/// while this relay asks that member, over an authenticated fleet channel, whether the address is
/// a relayed address of this device's partner; the answer is kept for a permission's lifetime
/// (a refusal briefly), and the request is then answered as on one relay. Sans-I/O like the rest:
/// the question leaves as a datagram in the outbox, the answer comes back through
/// `handleFleetAnswer`, and a missing answer becomes 403 at `expire`.
///
/// The channel is STUN: a private method, a member's question as a request to its TURN UDP
/// address from the asking worker's fleet socket, MESSAGE-INTEGRITY-SHA256 keyed with the fleet
/// secret on both question and answer, the sender's clock in FLEET-TIME (±30 s) and each
/// question's transaction id answered once — so forged, stale and replayed messages are dropped.
extension STUNMethod {
    /// Private range (RFC 8489 §18.2: 0x800–0xFFF, designated expert): never sent to clients.
    public static let fleetCheck = STUNMethod(rawValue: 0x801)
    /// An indication carrying leg reports to the device's home relay.
    public static let fleetLegs = STUNMethod(rawValue: 0x802)
}

extension STUNAttributeType {
    /// The asker's partner: one byte of role (1 robot, 2 app), then the device id (UTF-8).
    public static let fleetPartner = Self(0xC0A2)
    /// The sender's Unix time, seconds (32 bits).
    public static let fleetTime = Self(0xC0A3)
    /// The answer: 1 when the address is a relayed address of that partner, 0 otherwise.
    public static let fleetAnswer = Self(0xC0A4)
    /// Encoded leg reports (the server's format; opaque to the engine).
    public static let fleetLegs = Self(0xC0A5)
    /// The sender's monotonic clock, µs (64 bits): the receiver shifts the reports' times by it.
    public static let fleetClock = Self(0xC0A6)
}

/// A client request waiting for a member's answer about one of its peers.
struct PendingFleetCheck {
    var peer: TransportAddress
    var member: TransportAddress
    /// The asking allocation, and the request to answer once every check of it is in.
    var tuple: FiveTuple
    var socket: SocketID
    var request: [UInt8]
    var requestID: TransactionID
    var deadline: Int64
}

extension TURNEngine {
    /// How long a member has to answer before the request gets 403.
    static var fleetCheckTimeoutMillis: Int64 { 2000 }
    /// How long a refusal is kept: short, since the partner may be allocating over there now.
    static var fleetRefusalMillis: Int64 { 5000 }
    static var maxPendingFleetChecks: Int { 1024 }

    /// Asks the members that own any of `peers` and returns true when the request must wait for
    /// their answers. Peers this relay knows about (its own partners, cached answers, addresses
    /// of no other member) need no question.
    mutating func awaitFleetChecks(
        _ peers: [TransportAddress], request m: STUNMessage, reply: Reply, allocation: Allocation, now: TURNTime, out: Outbox
    ) -> Bool {
        guard let pairing = allocation.pairing, let fleet = configuration.fleet, let key = configuration.fleetKey,
            let fleetSocket = resources.fleetSocket
        else { return false }
        let local = resources.partnerAddresses(device: pairing.device, role: pairing.role.partner)
        var waiting = false
        for peer in peers where !local.contains(peer) {
            if allocation.remotePartners[peer].map({ $0 > now.millis }) == true { continue }
            if allocation.remoteRefusals[peer].map({ $0 > now.millis }) == true { continue }
            guard let member = fleet.members.first(where: { $0.name != fleet.selfName && $0.address.ip == peer.ip }) else { continue }
            waiting = true
            // A retransmission of the request while its question is out: the answer will do.
            if pendingFleetChecks.values.contains(where: { $0.tuple == reply.tuple && $0.peer == peer }) { continue }
            guard pendingFleetChecks.count < Self.maxPendingFleetChecks else {
                allocation.remoteRefusals[peer] = now.millis + Self.fleetRefusalMillis
                continue
            }
            var b = STUNMessageBuilder(method: .fleetCheck, class: .request, transactionID: .random())
            b.append(.xorPeerAddress, xorAddress: peer)
            b.append(.fleetPartner, [pairing.role.partner == .robot ? 1 : 2] + Array(pairing.device.utf8))
            b.append(.fleetTime, uint32: UInt32(truncatingIfNeeded: now.unixSeconds))
            b.appendMessageIntegritySHA256(key: key)
            b.appendFingerprint()
            out.append(socket: fleetSocket, to: member.address, bytes: b.bytes)
            pendingFleetChecks[b.transactionID] = PendingFleetCheck(
                peer: peer, member: member.address, tuple: reply.tuple, socket: reply.socket, request: m.bytes,
                requestID: m.transactionID, deadline: now.millis + Self.fleetCheckTimeoutMillis)
            stats.fleetChecksSent += 1
        }
        if waiting && peers.contains(where: { p in allocation.remoteRefusals[p].map { $0 > now.millis } == true }) {
            // One peer is refused already: the request fails whole, no need to wait for the rest.
            return false
        }
        return waiting
    }

    /// A member's question (on a TURN listener): answered if it is authentic, fresh and new.
    mutating func answerFleetCheck(_ m: STUNMessage, reply: Reply, now: TURNTime, out: Outbox) {
        guard let key = configuration.fleetKey, m.verifyIntegrity(key: key) == true,
            let sent = try? m.uint32(.fleetTime), abs(Int64(sent) - (now.unixSeconds & 0xFFFF_FFFF)) <= 30,
            let peer = try? m.xorAddress(.xorPeerAddress), let partner = m.value(.fleetPartner), partner.count >= 2,
            let role: Identity.Role = partner.first == 1 ? .robot : partner.first == 2 ? .app : nil,
            resources.firstSight(ofFleetCheck: m.transactionID, nowMillis: now.millis)
        else {
            return drop(.fleetRefused)
        }
        let device = String(decoding: partner.dropFirst(), as: UTF8.self)
        let yes = resources.partnerAddresses(device: device, role: role).contains(peer)
        var b = STUNMessageBuilder(method: .fleetCheck, class: .successResponse, transactionID: m.transactionID)
        b.append(.fleetAnswer, [yes ? 1 : 0, 0, 0, 0])
        b.append(.fleetTime, uint32: UInt32(truncatingIfNeeded: now.unixSeconds))
        b.appendMessageIntegritySHA256(key: key)
        b.appendFingerprint()
        out.append(socket: reply.socket, to: reply.tuple.client, bytes: b.bytes)
        stats.fleetChecksAnswered += 1
    }

    /// Leg reports from another member (on a TURN listener), handed up as an event when authentic,
    /// fresh and new; the server feeds them to its sessions as if the legs were here.
    mutating func receiveFleetLegs(_ message: UnsafeRawBufferPointer, now: TURNTime, out: Outbox) {
        guard let key = configuration.fleetKey, let m = try? STUNMessage(parsing: message), m.verifyIntegrity(key: key) == true,
            let sent = try? m.uint32(.fleetTime), abs(Int64(sent) - (now.unixSeconds & 0xFFFF_FFFF)) <= 30,
            let clock = m.value(.fleetClock), clock.count == 8, let legs = m.value(.fleetLegs),
            resources.firstSight(ofFleetCheck: m.transactionID, nowMillis: now.millis)
        else {
            return drop(.fleetRefused)
        }
        let senderClock = clock.reduce(Int64(0)) { $0 << 8 | Int64($1) }
        out.events.append(.fleetLegs(Array(legs), senderClock: senderClock, receivedAt: now.micros))
    }

    /// A member's answer, arriving on this worker's fleet socket.
    public mutating func handleFleetAnswer(_ bytes: UnsafeRawBufferPointer, from member: TransportAddress, now: TURNTime, out: Outbox) {
        guard let key = configuration.fleetKey, let m = try? STUNMessage(parsing: bytes), m.method == .fleetCheck,
            m.messageClass == .successResponse, m.verifyIntegrity(key: key) == true,
            let pending = pendingFleetChecks[m.transactionID], pending.member == member
        else {
            return drop(.fleetRefused)
        }
        pendingFleetChecks[m.transactionID] = nil
        resolve(pending, partner: m.value(.fleetAnswer)?.first == 1, now: now, out: out)
    }

    /// Keeps the answer on the allocation and, once no question of the request is out, answers
    /// the request as it now stands.
    mutating func resolve(_ pending: PendingFleetCheck, partner: Bool, now: TURNTime, out: Outbox) {
        guard let allocation = allocations[pending.tuple] else { return }
        if partner {
            allocation.remotePartners[pending.peer] = now.millis + configuration.permissionLifetime * 1000
        } else {
            allocation.remoteRefusals[pending.peer] = now.millis + Self.fleetRefusalMillis
        }
        guard !pendingFleetChecks.values.contains(where: { $0.tuple == pending.tuple && $0.requestID == pending.requestID }),
            let request = try? STUNMessage(parsing: pending.request)
        else { return }
        handleRequest(request, tuple: pending.tuple, socket: pending.socket, now: now, out: out)
    }

    /// Questions nobody answered in time: their peers are refused (403).
    mutating func expireFleetChecks(now: TURNTime, out: Outbox) {
        guard !pendingFleetChecks.isEmpty else { return }
        for (id, pending) in pendingFleetChecks where pending.deadline <= now.millis {
            pendingFleetChecks[id] = nil
            stats.fleetChecksTimedOut += 1
            resolve(pending, partner: false, now: now, out: out)
        }
    }
}
