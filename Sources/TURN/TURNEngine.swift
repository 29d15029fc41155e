import STUN

/// The TURN server as a state machine (RFC 8656): bytes, the 5-tuple and the time go in; datagrams
/// to send and events come out through an `Outbox`. No sockets, timers, locks or logging here.
///
/// One engine per worker. Everything about an allocation lives in the engine that created it; the
/// I/O layer keeps a client's packets on one worker (SO_REUSEPORT hashing, one connection per
/// worker) and delivers a relay socket's packets to the worker that opened it.
public struct TURNEngine<Resources: RelayResources> {
    public var configuration: TURNEngineConfiguration
    public let resources: Resources
    public internal(set) var stats = TURNStats()

    var allocations: [FiveTuple: Allocation] = [:]
    var byRelaySocket: [SocketID: Allocation] = [:]
    /// Mobile allocations whose TCP/TLS connection closed, by id, waiting for their ticket
    /// (TURNEngine+Mobility).
    var orphans: [UInt64: Allocation] = [:]
    /// Mobility Refreshes handed to another worker and not answered yet, by transaction.
    var movesInFlight: Set<TransactionID> = []
    /// 401s and Allocates per source address (issue 13); built from the configuration on first use.
    var limiter: SourceLimiter?
    /// This engine's worker, named in the mobility tickets it seals.
    public var workerIndex: UInt16 = 0
    var nextSweep: Int64 = 0
    /// Questions out to other members of the fleet, by their transaction id (TURNEngine+Fleet).
    var pendingFleetChecks: [TransactionID: PendingFleetCheck] = [:]
    /// Data indications' transaction ids: a random base plus a counter (RFC 8489 §6 asks only
    /// that ids not repeat; indications are never answered).
    var indicationID: TransactionID

    public init(configuration: TURNEngineConfiguration, resources: Resources) {
        self.configuration = configuration
        self.resources = resources
        self.indicationID = TransactionID.random()
    }

    public var allocationCount: Int { allocations.count + orphans.count }
    /// Live allocations by client transport and relayed family (metrics), counted as they are
    /// made and deleted.
    public internal(set) var allocationKinds = AllocationKinds()

    /// The allocation of a 5-tuple (tests and diagnostics).
    public func allocation(for tuple: FiveTuple) -> Allocation? { allocations[tuple] }

    // MARK: - Packet in

    /// A datagram (UDP) or one framed message (TCP/TLS) from a client.
    /// `socket` is where it arrived: replies leave from there.
    public mutating func handleClientPacket(
        _ bytes: UnsafeRawBufferPointer, tuple: FiveTuple, socket: SocketID, now: TURNTime, out: Outbox
    ) {
        stats.packetsFromClients += 1
        guard let first = bytes.first else { return drop(.malformed) }
        if STUNDataPath.isChannelData(firstByte: first) {
            return relayChannelData(bytes, tuple: tuple, now: now, out: out)
        }
        let header: STUNHeader
        do {
            guard let h = try STUNHeader(parsing: bytes), bytes.count >= h.messageSize else { return drop(.malformed) }
            header = h
        } catch {
            return drop(.malformed)
        }
        // A datagram holds one message; a stream message arrives framed to its size.
        let message = UnsafeRawBufferPointer(rebasing: bytes[0..<header.messageSize])
        switch header.type.messageClass {
        case .indication where header.type.method == .send:
            relaySendIndication(message, header: header, tuple: tuple, now: now, out: out)
        case .indication where header.type.method == .fleetLegs:
            receiveFleetLegs(message, now: now, out: out)
        case .request:
            let parsed: STUNMessage
            do {
                guard let m = try STUNMessage(parsing: message) else { return drop(.malformed) }
                parsed = m
            } catch {
                return answerMalformed(message, header: header, tuple: tuple, socket: socket, out: out, error: error)
            }
            handleRequest(parsed, tuple: tuple, socket: socket, now: now, out: out)
        default:
            drop(.unexpected)  // responses and other indications (Binding keepalives) need nothing
        }
    }

    /// A datagram that arrived on a relay socket from a peer (RFC 8656 §11.3, §12.6).
    public mutating func handlePeerPacket(
        _ bytes: UnsafeRawBufferPointer, from peer: TransportAddress, relaySocket: SocketID, now: TURNTime, out: Outbox
    ) {
        stats.packetsFromPeers += 1
        guard let allocation = byRelaySocket[relaySocket] else { return drop(.noAllocation) }
        guard allocation.mayExchange(with: peer, now: now.millis) else { return drop(refusal(allocation, peer: peer, now: now)) }
        var channel: UInt16?
        if let number = allocation.channelsByPeer[peer], let bound = allocation.channelsByNumber[number], bound.expiry > now.millis {
            channel = number
        }
        deliverToClient(
            bytes, from: peer, channel: channel, socket: allocation.clientSocket, client: allocation.fiveTuple.client,
            padded: allocation.fiveTuple.transport.isStream, out: out)
    }

    /// A peer's datagram to a client (RFC 8656 §11.3, §12.6): ChannelData on a bound channel,
    /// otherwise a Data indication naming the peer. Both the relay sockets and the hairpin end here.
    mutating func deliverToClient(
        _ payload: UnsafeRawBufferPointer, from peer: TransportAddress, channel: UInt16?, socket: SocketID, client: TransportAddress,
        padded: Bool, out: Outbox
    ) {
        if let channel {
            guard payload.count <= 0xFFFF else { return drop(.tooBig) }
            let size = STUNDataPath.channelDataSize(payload: payload.count, padded: padded)
            out.write(socket: socket, to: client, maxLength: size) {
                STUNDataPath.writeChannelData(into: $0, channel: channel, payload: payload, padded: padded)
            }
        } else {
            let size = STUNDataPath.dataIndicationSize(peer: peer.family, payload: payload.count)
            guard size - STUNHeader.size <= 0xFFFF else { return drop(.tooBig) }
            indicationID.lo &+= 1
            let tid = indicationID
            out.write(socket: socket, to: client, maxLength: size) {
                STUNDataPath.writeDataIndication(into: $0, transactionID: tid, peer: peer, payload: payload)
            }
        }
        stats.packetsToClients += 1
        stats.bytesToClients += payload.count
    }

    /// ChannelData from a client (RFC 8656 §12.5): forward the payload to the bound peer.
    mutating func relayChannelData(_ bytes: UnsafeRawBufferPointer, tuple: FiveTuple, now: TURNTime, out: Outbox) {
        guard let (number, length) = STUNDataPath.channelDataHeader(bytes), length <= bytes.count - 4 else {
            return drop(.malformed)
        }
        guard let allocation = allocations[tuple] else { return drop(.noAllocation) }
        guard let channel = allocation.channelsByNumber[number], channel.expiry > now.millis else { return drop(.noChannel) }
        guard allocation.mayExchange(with: channel.peer, now: now.millis), let relay = allocation.relay(for: channel.peer.family)
        else { return drop(refusal(allocation, peer: channel.peer, now: now)) }
        forward(
            UnsafeRawBufferPointer(rebasing: bytes[4..<(4 + length)]), of: allocation, from: relay, to: channel.peer, now: now, out: out)
    }

    /// Send indication from a client (RFC 8656 §11.2): forward DATA to XOR-PEER-ADDRESS if a
    /// permission exists; otherwise discard silently.
    mutating func relaySendIndication(
        _ message: UnsafeRawBufferPointer, header: STUNHeader, tuple: FiveTuple, now: TURNTime, out: Outbox
    ) {
        guard let allocation = allocations[tuple] else { return drop(.noAllocation) }
        guard let send = STUNDataPath.sendIndication(message, header: header) else { return drop(.malformed) }
        guard allocation.mayExchange(with: send.peer, now: now.millis), let relay = allocation.relay(for: send.peer.family)
        else { return drop(refusal(allocation, peer: send.peer, now: now)) }
        forward(UnsafeRawBufferPointer(rebasing: message[send.data]), of: allocation, from: relay, to: send.peer, now: now, out: out)
    }

    /// A client's payload that may pass, on its way to `peer`: within the allocation's `max-bps`,
    /// seen by session analytics, then through the hairpin or out of the relay socket.
    @inline(__always)
    mutating func forward(
        _ payload: UnsafeRawBufferPointer, of allocation: Allocation, from relay: RelayEndpoint, to peer: TransportAddress, now: TURNTime,
        out: Outbox
    ) {
        if configuration.maxBytesPerSecond > 0, !allocation.spend(payload.count, rate: configuration.maxBytesPerSecond, now: now.micros) {
            return drop(.quota)
        }
        allocation.analyzer?.observe(payload, now: now.micros)
        if hairpin(payload, from: relay.address, to: peer, now: now, out: out) { return }
        sendToPeer(payload, from: relay, to: peer, out: out)
    }

    @inline(__always)
    mutating func sendToPeer(_ payload: UnsafeRawBufferPointer, from relay: RelayEndpoint, to peer: TransportAddress, out: Outbox) {
        out.write(socket: relay.socket, to: peer, maxLength: payload.count) {
            if let base = payload.baseAddress, let destination = $0.baseAddress, payload.count > 0 {
                destination.copyMemory(from: base, byteCount: payload.count)
            }
            return payload.count
        }
        stats.packetsToPeers += 1
        stats.bytesToPeers += payload.count
    }

    /// A datagram the I/O layer could not take whole (larger than its receive slot): counted with
    /// the other drops.
    public mutating func dropTooBig() { drop(.tooBig) }

    mutating func drop(_ reason: DropReason) { stats[dropped: reason] += 1 }

    /// Why data between `allocation` and `peer` may not pass (off the relaying path: only a packet
    /// about to be dropped asks).
    @inline(never)
    func refusal(_ allocation: Allocation, peer: TransportAddress, now: TURNTime) -> DropReason {
        guard allocation.hasPermission(peer.ip, now: now.millis) else { return .noPermission }
        return allocation.mayExchange(with: peer, now: now.millis) ? .noPermission : .notPartner
    }

    // MARK: - Time

    /// Ends what has expired: allocations (RFC 8656 §7) and — every few seconds —
    /// stale permissions and channel bindings. Call about once a second.
    public mutating func expire(now: TURNTime, out: Outbox) {
        for allocation in allocations.values where allocation.expiry <= now.millis {
            delete(allocation, reason: .expired, now: now, out: out)
        }
        for allocation in orphans.values where allocation.expiry <= now.millis {
            delete(allocation, reason: .connectionClosed, now: now, out: out)
        }
        expireFleetChecks(now: now, out: out)
        if now.millis >= nextSweep {
            nextSweep = now.millis + 10_000
            limiter?.sweep(now: now.millis)
            for allocation in allocations.values where allocation.sweep(now: now.millis) {
                publishRoute(allocation)
            }
        }
    }

    /// A stream client went away: its allocation goes with it (RFC 8656 §3.1), unless it is mobile
    /// (RFC 8016): then it waits a while for the client to come back from elsewhere.
    public mutating func connectionClosed(_ tuple: FiveTuple, now: TURNTime, out: Outbox) {
        guard let allocation = allocations[tuple] else { return }
        if allocation.mobile && configuration.mobilityKey != nil { return orphan(allocation, now: now) }
        delete(allocation, reason: .connectionClosed, now: now, out: out)
    }

    /// Frees every allocation (shutdown).
    public mutating func removeAll(now: TURNTime, out: Outbox) {
        for allocation in allocations.values { delete(allocation, reason: .shutdown, now: now, out: out) }
        for allocation in orphans.values { delete(allocation, reason: .shutdown, now: now, out: out) }
    }

    mutating func delete(_ allocation: Allocation, reason: TURNEvent.DeletionReason, now: TURNTime, out: Outbox) {
        if allocations[allocation.fiveTuple] === allocation {
            allocations[allocation.fiveTuple] = nil
        } else if orphans.removeValue(forKey: allocation.legID) == nil {
            return
        }
        allocationKinds.count(allocation, by: -1)
        publishRoute(allocation, removed: true)
        for relay in allocation.relays {
            byRelaySocket[relay.socket] = nil
            resources.closeRelay(relay)
        }
        resources.releaseAllocation(user: allocation.username)
        if let entry = allocation.pairing { resources.unregisterPairing(entry) }
        if let leg = allocation.legReport(ended: reason, at: now.micros) { out.legs.append(leg) }
        out.events.append(.allocationDeleted(reason: reason, lifetimeSeconds: (now.millis - allocation.created) / 1000))
    }
}
