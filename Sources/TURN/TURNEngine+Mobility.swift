import STUN

/// A Refresh that carries a MOBILITY-TICKET from a 5-tuple without an allocation (RFC 8016 §3.2):
/// the client moved (Wi-Fi to 4G) and asks for its allocation back. It goes from the engine that
/// received it to the engine that holds the allocation (`release`), and the allocation comes
/// back with it (`adopt`). When both are one engine that is a function call; otherwise the I/O
/// layer carries it between workers. Each side touches it only on its own thread, one after the
/// other.
public final class MobilityMove: @unchecked Sendable {
    public let ticket: MobilityTicket
    let request: STUNMessage
    let tuple: FiveTuple
    let socket: SocketID
    let username: String
    let key: [UInt8]

    init(ticket: MobilityTicket, request: STUNMessage, tuple: FiveTuple, socket: SocketID, username: String, key: [UInt8]) {
        self.ticket = ticket
        self.request = request
        self.tuple = tuple
        self.socket = socket
        self.username = username
        self.key = key
    }
}

extension TURNEngine {
    /// A ticket for a mobile allocation, naming this worker and the allocation's generation.
    func mobilityTicket(for allocation: Allocation) -> [UInt8]? {
        guard allocation.mobile, let key = configuration.mobilityKey else { return nil }
        return MobilityTicket(
            worker: UInt8(truncatingIfNeeded: workerIndex), allocation: allocation.legID, generation: allocation.ticketGeneration,
            expiry: allocation.expiry
        ).sealed(key: key)
    }

    /// RFC 8016 §3.1: an empty MOBILITY-TICKET in an Allocate asks for one (405 when mobility is
    /// off, 400 when it is not empty).
    func wantsMobility(_ m: STUNMessage) throws(TURNRejection) -> Bool {
        guard let value = m.value(.mobilityTicket) else { return false }
        guard configuration.mobilityKey != nil else { throw .mobilityForbidden }
        guard value.isEmpty else { throw .badRequest("MOBILITY-TICKET must be empty in an Allocate") }
        return true
    }

    /// The receiving half of a move: a ticket this relay sealed, not expired. Every ticket that
    /// names no allocation it can move — forged, damaged, stale, spent (a replay), another run's
    /// — gets 437 (RFC 8016 §3.2), and nothing moves.
    mutating func roam(_ m: STUNMessage, reply: Reply, credential: Authenticator.Credential, now: TURNTime, out: Outbox)
        throws(TURNRejection)
    {
        guard let key = configuration.mobilityKey else { throw .mobilityForbidden }
        guard let value = m.value(.mobilityTicket), let ticket = MobilityTicket(opening: value, key: key), ticket.expiry > now.millis
        else { throw .allocationMismatch }
        let move = MobilityMove(
            ticket: ticket, request: m, tuple: reply.tuple, socket: reply.socket, username: credential.username, key: credential.key)
        guard UInt16(ticket.worker) == workerIndex else {
            // A retransmission while the move is on its way is answered when the move is: the
            // allocation would not be at the owner any more, and the client would get a 437.
            guard movesInFlight.insert(m.transactionID).inserted else { return }
            return out.moves.append(move)
        }
        let allocation = try release(for: move)
        adopt(allocation, move: move, now: now, out: out)
    }

    /// The owner's half: the allocation the ticket names, if this generation may still move it
    /// and the request is its user's (441 otherwise, RFC 8016 §3.2), taken out of this engine —
    /// out of its tables, its hairpin route and the pairing registry, its relay sockets no longer
    /// read here. It keeps its permissions, channels, quota, analyzer and leg (one session).
    public mutating func release(for move: MobilityMove) throws(TURNRejection) -> Allocation {
        let ticket = move.ticket
        guard let allocation = orphans.values.first(where: ticket.names) ?? allocations.values.first(where: ticket.names),
            allocation.mobile,
            allocation.ticketGeneration == move.ticket.generation
        else { throw .allocationMismatch }
        guard allocation.username == move.username else { throw .wrongCredentials }
        if allocations[allocation.fiveTuple] === allocation { allocations[allocation.fiveTuple] = nil }
        orphans[allocation.legID] = nil
        for relay in allocation.relays { byRelaySocket[relay.socket] = nil }
        allocationKinds.count(allocation, by: -1)
        publishRoute(allocation, removed: true)
        if let entry = allocation.pairing { resources.unregisterPairing(entry) }
        resources.handOver(allocation.relays)
        return allocation
    }

    /// The receiving half, with the allocation: it now lives at the request's 5-tuple, here, and
    /// the Refresh is answered as any other (lifetime, telemetry, a fresh ticket). Its old ticket
    /// is spent. Peers see nothing: the relayed address is the same.
    public mutating func adopt(_ allocation: Allocation, move: MobilityMove, now: TURNTime, out: Outbox) {
        movesInFlight.remove(move.request.transactionID)
        resources.takeOver(allocation.relays)
        allocationKinds.count(allocation, by: 1)
        let reply = Reply(request: move.request, tuple: move.tuple, socket: move.socket, software: configuration.software)
        guard allocations[move.tuple] == nil else {
            // The client allocated afresh from there meanwhile: the old allocation waits, as after
            // a lost connection, for a ticket from elsewhere or its end.
            orphan(allocation, now: now)
            return reject(reply, .allocationMismatch, key: move.key, out: out)
        }
        let acrossWorkers = UInt16(move.ticket.worker) != workerIndex
        allocation.fiveTuple = move.tuple
        allocation.clientSocket = move.socket
        allocation.ticketGeneration &+= 1
        allocation.moves += 1
        allocation.analyzer?.moved(now: now.micros)
        if var entry = allocation.pairing {
            entry.addresses = allocation.relays.map(\.address) + [move.tuple.client]
            allocation.pairing = entry
            resources.registerPairing(entry)
        }
        allocations[move.tuple] = allocation
        for relay in allocation.relays { byRelaySocket[relay.socket] = allocation }
        publishRoute(allocation)
        out.events.append(.allocationMoved(acrossWorkers: acrossWorkers))
        do {
            try renew(allocation, move.request, reply: reply, key: move.key, now: now, out: out)
        } catch {
            reject(reply, error, key: move.key, out: out)
        }
    }

    /// The answer to a move the owner refused (437, 441), or that found no owner.
    public mutating func refuse(_ move: MobilityMove, _ rejection: TURNRejection, out: Outbox) {
        movesInFlight.remove(move.request.transactionID)
        let reply = Reply(request: move.request, tuple: move.tuple, socket: move.socket, software: configuration.software)
        reject(reply, rejection, key: move.key, out: out)
    }

    /// A mobile allocation whose client is gone (its TCP/TLS connection closed) waits for the
    /// client's ticket from a new 5-tuple for `mobilityGrace` at most: nothing reaches it, nothing
    /// leaves it, its relay sockets stay open.
    mutating func orphan(_ allocation: Allocation, now: TURNTime) {
        if allocations[allocation.fiveTuple] === allocation { allocations[allocation.fiveTuple] = nil }
        for relay in allocation.relays { byRelaySocket[relay.socket] = nil }
        publishRoute(allocation, removed: true)
        allocation.expiry = min(allocation.expiry, now.millis + configuration.mobilityGrace * 1000)
        orphans[allocation.legID] = allocation
    }
}
