import STUN

/// The control plane: Binding, Allocate, Refresh, CreatePermission, ChannelBind
/// (RFC 8489 §6.3, RFC 8656 §7–§12), each check in the order the RFC gives it.
extension TURNEngine {
    mutating func handleRequest(_ m: STUNMessage, tuple: FiveTuple, socket: SocketID, now: TURNTime, out: Outbox) {
        stats.requests += 1
        let reply = Reply(request: m, tuple: tuple, socket: socket, software: configuration.software)
        if m.method == .binding {
            // RFC 8489 §6.3.1: no authentication for Binding; §7.3.1 unknown attributes first.
            let unknown = m.unknownComprehensionRequired
            if !unknown.isEmpty { return reject(reply, .unknownAttributes(unknown), out: out) }
            var b = reply.success()
            b.append(.xorMappedAddress, xorAddress: tuple.client)
            reply.send(b, key: nil, out: out)
            return
        }
        if m.method == .fleetCheck { return answerFleetCheck(m, reply: reply, now: now, out: out) }
        guard [.allocate, .refresh, .createPermission, .channelBind].contains(m.method) else {
            return reject(reply, .badRequest("Unknown method"), out: out)
        }
        let signed = m.contains(.messageIntegrity) || m.contains(.messageIntegritySHA256)
        // A stranger's answers (401s, and whatever needs no credentials) and every Allocate come
        // out of the source's bucket; over it, no answer at all.
        if !signed || m.method == .allocate, !admitFromSource(tuple.client.ip, now: now) { return drop(.rateLimited) }
        if !signed {
            // Without credentials, a request that would fail anyway once authenticated gets that
            // answer now, not a 100-byte 401 (amplification, issue 13; docs/PERFORMANCE.md): the
            // sender learns nothing it would not learn after authenticating.
            if m.method == .allocate, !m.contains(.requestedTransport) {
                return reject(reply, .badRequest("REQUESTED-TRANSPORT missing"), out: out)
            }
            if m.method != .allocate, allocations[tuple] == nil, !m.contains(.mobilityTicket) {
                return reject(reply, .allocationMismatch, out: out)
            }
        }
        let credential: Authenticator.Credential
        let held = allocations[tuple].map { (username: $0.username, key: $0.key) }
        switch configuration.authenticator.authenticate(m, client: tuple.client, now: now, allocation: held) {
        case .success(let c):
            credential = c
        case .failure(.challenge):
            // No reason phrase (RFC 8489 §14.8 leaves it to the server; the code says it all): a
            // challenge goes to whoever claims a source address, and every byte is amplification.
            return challenge(reply, code: 401, reason: "", now: now, out: out)
        case .failure(.staleNonce):
            return challenge(reply, code: 438, reason: "Stale Nonce", now: now, out: out)
        case .failure(.unauthorized(let why)):
            return challenge(reply, code: 401, reason: why, now: now, out: out)
        case .failure(.badRequest(let why)):
            return reject(reply, .badRequest(why), out: out)
        }
        let unknown = m.unknownComprehensionRequired
        if !unknown.isEmpty {
            return reject(reply, .unknownAttributes(unknown), key: credential.key, out: out)
        }
        do {
            switch m.method {
            case .allocate: try allocate(m, reply: reply, credential: credential, now: now, out: out)
            case .refresh: try refresh(m, reply: reply, credential: credential, now: now, out: out)
            case .createPermission: try createPermission(m, reply: reply, credential: credential, now: now, out: out)
            default: try channelBind(m, reply: reply, credential: credential, now: now, out: out)
            }
        } catch .tryAlternate(let server, let domain) {
            // With the realm and a nonce: libwebrtc (Chromium's WebRTC) re-sends the redirected
            // Allocate to the alternate with the realm and nonce of this answer, and gives up on
            // anything but success there. A fleet with a fleet secret shares the nonce key, so the
            // home accepts it (DESIGN §8).
            reject(
                reply, .tryAlternate(server, domain: domain), key: credential.key,
                nonce: configuration.authenticator.makeNonce(for: tuple.client, now: now), out: out)
        } catch {
            reject(reply, error, key: credential.key, out: out)
        }
    }

    /// The per-source bucket of 401s and Allocates (`source-rate`, `source-burst`).
    mutating func admitFromSource(_ ip: IPAddress, now: TURNTime) -> Bool {
        guard configuration.sourceRate > 0 else { return true }
        let burst = max(1, configuration.sourceBurst)
        if limiter == nil || limiter?.rate != configuration.sourceRate || limiter?.burst != burst {
            limiter = SourceLimiter(rate: configuration.sourceRate, burst: burst)
        }
        return limiter?.admit(ip, now: now.millis) ?? true
    }

    // MARK: Allocate (RFC 8656 §7.2)

    mutating func allocate(_ m: STUNMessage, reply: Reply, credential: Authenticator.Credential, now: TURNTime, out: Outbox)
        throws(TURNRejection)
    {
        if let existing = allocations[reply.tuple] {
            // A retransmission gets the same answer; anything else is a mismatch.
            if existing.allocateTransaction == m.transactionID, !existing.allocateResponse.isEmpty {
                out.append(socket: reply.socket, to: reply.tuple.client, bytes: existing.allocateResponse)
                return
            }
            throw .allocationMismatch
        }
        guard let transport = try parsed(m.uint32(.requestedTransport)) else { throw .badRequest("REQUESTED-TRANSPORT missing") }
        guard transport >> 24 == 17 else { throw .unsupportedTransportProtocol }
        let token = try parsed(m.reservationToken())
        let evenPort = try parsed(m.evenPort())
        let requestedFamily = try parsed(m.familyByte(.requestedAddressFamily))
        let additionalFamily = try parsed(m.familyByte(.additionalAddressFamily))
        if token != nil && (evenPort.present || requestedFamily != nil) {
            throw .badRequest("RESERVATION-TOKEN excludes EVEN-PORT and REQUESTED-ADDRESS-FAMILY")
        }
        if requestedFamily != nil && additionalFamily != nil {
            throw .badRequest("REQUESTED-ADDRESS-FAMILY excludes ADDITIONAL-ADDRESS-FAMILY")
        }
        if let additionalFamily, additionalFamily != AddressFamily.ipv6.rawValue {
            throw .badRequest("ADDITIONAL-ADDRESS-FAMILY must be IPv6")
        }
        if evenPort.present && additionalFamily != nil { throw .badRequest("EVEN-PORT excludes dual allocation") }
        let mobile = try wantsMobility(m)
        let identity = Identity(username: credential.username)
        if configuration.pairing && !identity.isPaired {
            throw .forbidden("pairing needs a robot:<id> or app:<id> credential")
        }
        try steerToHome(
            identity, username: credential.username, transport: reply.tuple.transport, client: reply.tuple.client, now: now.millis)
        var family = AddressFamily.ipv4
        if let requestedFamily {
            guard let f = AddressFamily(rawValue: requestedFamily) else { throw .addressFamilyNotSupported }
            family = f
        }
        let lifetime = try desiredLifetime(m)

        switch resources.acquireAllocation(user: credential.username) {
        case .granted: break
        case .userQuotaReached: throw .allocationQuotaReached
        case .totalQuotaReached: throw .insufficientCapacity(nil)
        }
        var relays: [RelayEndpoint] = []
        var reservationToken: UInt64?
        var addressError: (AddressFamily, Int, String)?
        if let token {
            guard let endpoint = resources.claimReservation(token) else {
                resources.releaseAllocation(user: credential.username)
                throw .insufficientCapacity("unknown reservation")
            }
            relays.append(endpoint)
        } else {
            switch resources.openRelay(family: family, evenPort: evenPort.present, reserveNext: evenPort.reserveNext) {
            case .opened(let endpoint, let token):
                relays.append(endpoint)
                reservationToken = token
            case .unsupportedFamily:
                resources.releaseAllocation(user: credential.username)
                throw .addressFamilyNotSupported
            case .exhausted:
                resources.releaseAllocation(user: credential.username)
                throw .insufficientCapacity(nil)
            }
            if additionalFamily != nil {
                switch resources.openRelay(family: .ipv6, evenPort: false, reserveNext: false) {
                case .opened(let endpoint, _): relays.append(endpoint)
                case .unsupportedFamily: addressError = (.ipv6, 440, "Address Family not Supported")
                case .exhausted: addressError = (.ipv6, 508, "Insufficient Capacity")
                }
            }
        }

        var pairing: PairingEntry?
        if configuration.pairing, let role = identity.role, let device = identity.device {
            pairing = PairingEntry(device: device, role: role, addresses: relays.map(\.address) + [reply.tuple.client])
        }
        let allocation = Allocation(
            fiveTuple: reply.tuple, clientSocket: reply.socket, username: credential.username, key: credential.key,
            relays: relays, expiry: now.millis + lifetime * 1000, created: now.millis,
            allocateTransaction: m.transactionID, pairing: pairing)
        allocation.createdUnix = now.unixSeconds
        allocation.mobile = mobile
        if let pairing { resources.registerPairing(pairing) }
        allocations[reply.tuple] = allocation
        allocationKinds.count(allocation, by: 1)
        for r in relays { byRelaySocket[r.socket] = allocation }
        publishRoute(allocation)

        var b = reply.success()
        for r in relays { b.append(.xorRelayedAddress, xorAddress: r.address) }
        b.append(.lifetime, uint32: UInt32(lifetime))
        if let reservationToken {
            b.append(.reservationToken, (0..<8).map { UInt8(truncatingIfNeeded: reservationToken >> UInt64(56 - 8 * $0)) })
        }
        b.append(.xorMappedAddress, xorAddress: reply.tuple.client)
        if let (f, code, reason) = addressError { b.appendAddressErrorCode(family: f, code: code, reason: reason) }
        if let ticket = mobilityTicket(for: allocation) { b.append(.mobilityTicket, ticket) }
        allocation.allocateResponse = reply.send(b, key: credential.key, out: out)
        out.events.append(.allocationCreated(transport: reply.tuple.transport, families: relays.count))
    }

    /// A fleet's fast path (DESIGN §8): both partners of a new call meet on the device's home
    /// relay, where the hairpin carries the call. Not for a device already allocated here (its
    /// partner is here), nor when this relay is the home, nor with pairing off. A draining relay
    /// (no longer in its own view, so never the home) takes only a live call's reconnects.
    func steerToHome(
        _ identity: Identity, username: String, transport: TransportProtocol, client: TransportAddress, now: Int64
    ) throws(TURNRejection) {
        if configuration.pairing, let device = identity.device, resources.hasAllocations(device: device) { return }
        if configuration.pairing, let fleet = configuration.fleet, let device = identity.device,
            let home = fleet.home(of: device), home.name != fleet.selfName, let alternate = home.address(for: transport),
            // A client that comes back at once does not follow 300 (pion's, perhaps a robot's):
            // it is served here, and the fleet channel connects it to its partner.
            configuration.fleetKey == nil || !resources.redirectedBefore("\(client.ip) \(username)", nowMillis: now)
        {
            throw .tryAlternate(alternate, domain: transport == .tls ? home.tlsDomain : nil)
        }
        if configuration.draining { throw .forbidden("draining") }
    }

    /// RFC 8656 §7.2 / §7.3: the requested lifetime capped at the maximum, never below the default.
    func desiredLifetime(_ m: STUNMessage) throws(TURNRejection) -> Int64 {
        guard let requested = try parsed(m.uint32(.lifetime)) else { return configuration.defaultLifetime }
        return max(configuration.defaultLifetime, min(Int64(requested), configuration.maxLifetime))
    }

    // MARK: Refresh (RFC 8656 §7.3)

    mutating func refresh(_ m: STUNMessage, reply: Reply, credential: Authenticator.Credential, now: TURNTime, out: Outbox)
        throws(TURNRejection)
    {
        guard let allocation = allocations[reply.tuple] else {
            // RFC 8016: from a new 5-tuple, a ticket asks for the client's allocation back.
            if m.contains(.mobilityTicket) { return try roam(m, reply: reply, credential: credential, now: now, out: out) }
            throw .allocationMismatch
        }
        guard allocation.username == credential.username else { throw .wrongCredentials }
        try renew(allocation, m, reply: reply, key: credential.key, now: now, out: out)
    }

    /// A Refresh of `allocation` (here, or just moved here): telemetry kept, lifetime set (or the
    /// allocation deleted at 0) and, for a mobile one, a fresh ticket.
    mutating func renew(_ allocation: Allocation, _ m: STUNMessage, reply: Reply, key: [UInt8], now: TURNTime, out: Outbox)
        throws(TURNRejection)
    {
        // The robot's link telemetry (DESIGN §5), comprehension-optional: kept for the session.
        if allocation.pairing != nil, let v = m.value(LinkTelemetry.attribute), let t = LinkTelemetry(encoded: v) {
            if allocation.telemetry.count < Allocation.maxTelemetry { allocation.telemetry.append(t) }
        }
        if let f = try parsed(m.familyByte(.requestedAddressFamily)) {
            guard let family = AddressFamily(rawValue: f), allocation.relay(for: family) != nil else {
                throw .peerAddressFamilyMismatch
            }
        }
        var b = reply.success()
        if try parsed(m.uint32(.lifetime)) == 0 {
            delete(allocation, reason: .refreshedToZero, now: now, out: out)
            b.append(.lifetime, uint32: 0)
        } else {
            let lifetime = try desiredLifetime(m)
            allocation.expiry = now.millis + lifetime * 1000
            b.append(.lifetime, uint32: UInt32(lifetime))
            if let ticket = mobilityTicket(for: allocation) { b.append(.mobilityTicket, ticket) }
        }
        reply.send(b, key: key, out: out)
    }

    // MARK: CreatePermission (RFC 8656 §9.2)

    mutating func createPermission(
        _ m: STUNMessage, reply: Reply, credential: Authenticator.Credential, now: TURNTime, out: Outbox
    ) throws(TURNRejection) {
        guard let allocation = allocations[reply.tuple] else { throw .allocationMismatch }
        guard allocation.username == credential.username else { throw .wrongCredentials }
        let peers = try parsed(m.xorAddresses(.xorPeerAddress))
        guard !peers.isEmpty else { throw .badRequest("XOR-PEER-ADDRESS missing") }
        if awaitFleetChecks(peers, request: m, reply: reply, allocation: allocation, now: now, out: out) { return }
        // All or nothing: every peer is checked before any permission is installed.
        for peer in peers { try checkPeer(peer, for: allocation, now: now, out: out) }
        for peer in peers {
            allocation.permissions[peer.ip] = now.millis + configuration.permissionLifetime * 1000
            if allocation.pairing != nil { allocation.pairedPeers.insert(peer) }
        }
        publishRoute(allocation)
        reply.send(reply.success(), key: credential.key, out: out)
    }

    // MARK: ChannelBind (RFC 8656 §12.2)

    mutating func channelBind(_ m: STUNMessage, reply: Reply, credential: Authenticator.Credential, now: TURNTime, out: Outbox)
        throws(TURNRejection)
    {
        guard let allocation = allocations[reply.tuple] else { throw .allocationMismatch }
        guard allocation.username == credential.username else { throw .wrongCredentials }
        guard let number = try parsed(m.channelNumber()) else { throw .badRequest("CHANNEL-NUMBER missing") }
        guard configuration.channelRange.contains(number) else { throw .badRequest("Channel number out of range") }
        guard let peer = try parsed(m.xorAddress(.xorPeerAddress)) else { throw .badRequest("XOR-PEER-ADDRESS missing") }
        if awaitFleetChecks([peer], request: m, reply: reply, allocation: allocation, now: now, out: out) { return }
        try checkPeer(peer, for: allocation, now: now, out: out)
        if let bound = allocation.channelsByNumber[number], bound.peer != peer {
            throw .badRequest("Channel bound to another peer")
        }
        if let bound = allocation.channelsByPeer[peer], bound != number {
            throw .badRequest("Peer bound to another channel")
        }
        allocation.channelsByNumber[number] = .init(peer: peer, expiry: now.millis + configuration.channelLifetime * 1000)
        allocation.channelsByPeer[peer] = number
        if allocation.pairing != nil { allocation.pairedPeers.insert(peer) }
        let permissionExpiry = now.millis + configuration.permissionLifetime * 1000
        allocation.permissions[peer.ip] = max(allocation.permissions[peer.ip] ?? 0, permissionExpiry)
        publishRoute(allocation)
        reply.send(reply.success(), key: credential.key, out: out)
    }

    /// The family must match a relayed address (443) and the peer policy must allow it (403).
    /// Under pairing the only peers are the partner's relayed and client addresses, whatever the
    /// default policy would say of them (the partner's relayed address is the relay's own).
    func checkPeer(_ peer: TransportAddress, for allocation: Allocation, now: TURNTime, out: Outbox) throws(TURNRejection) {
        guard allocation.relay(for: peer.family) != nil else { throw .peerAddressFamilyMismatch }
        if let pairing = allocation.pairing {
            // The partner here, or — as another member of the fleet vouched — over there.
            guard !configuration.peerPolicy.listenerAddresses.contains(peer),
                resources.partnerAddresses(device: pairing.device, role: pairing.role.partner).contains(peer)
                    || allocation.remotePartners[peer].map({ $0 > now.millis }) == true
            else {
                out.events.append(.peerDenied(.notPartner))
                throw .forbidden("not this device's partner")
            }
            return
        }
        if let denial = configuration.peerPolicy.denial(for: peer) {
            out.events.append(.peerDenied(denial))
            throw .forbidden("")
        }
    }

    // MARK: Answers

    mutating func challenge(_ reply: Reply, code: Int, reason: String, now: TURNTime, out: Outbox) {
        stats.errorResponses += 1
        out.events.append(.requestFailed(method: reply.request.method, code: code))
        var b = reply.error(code: code, reason: reason)
        b.append(.realm, text: configuration.realm)
        b.append(.nonce, text: configuration.authenticator.makeNonce(for: reply.tuple.client, now: now))
        b.appendPasswordAlgorithms(configuration.authenticator.algorithms)
        // No SOFTWARE: whoever sent this may not be who it says (a spoofed source), and every byte
        // of the answer beyond what RFC 8489 §9.2.4 requires is amplification.
        reply.send(b, key: nil, software: false, out: out)
    }

    mutating func reject(_ reply: Reply, _ r: TURNRejection, key: [UInt8]? = nil, nonce: String? = nil, out: Outbox) {
        stats.errorResponses += 1
        out.events.append(.requestFailed(method: reply.request.method, code: r.code))
        var b = reply.error(code: r.code, reason: r.reason)
        switch r {
        case .unknownAttributes(let unknown): b.appendUnknownAttributes(unknown)
        case .tryAlternate(let server, let domain):
            b.append(.alternateServer, address: server)
            if let domain { b.append(.alternateDomain, text: domain) }
        default: break
        }
        if let nonce {
            b.append(.realm, text: configuration.realm)
            b.append(.nonce, text: nonce)
        }
        // SOFTWARE only where the answer is signed: an unsigned one may go to a spoofed source.
        reply.send(b, key: key, software: key != nil, out: out)
    }

    /// A request that is STUN but whose attributes do not parse: 400 if there is a transaction to
    /// answer, nothing if the fingerprint says it was not STUN at all.
    mutating func answerMalformed(
        _ message: UnsafeRawBufferPointer, header: STUNHeader, tuple: FiveTuple, socket: SocketID, out: Outbox, error: STUNParseError
    ) {
        drop(.malformed)
        guard error != .badFingerprint else { return }
        stats.errorResponses += 1
        var b = STUNMessageBuilder(method: header.type.method, class: .errorResponse, transactionID: header.transactionID)
        b.appendErrorCode(400, reason: "Bad Request")
        out.append(socket: socket, to: tuple.client, bytes: b.bytes)
    }
}

/// Builds and sends the answer to one request.
struct Reply {
    let request: STUNMessage
    let tuple: FiveTuple
    let socket: SocketID
    let software: String?

    func success() -> STUNMessageBuilder {
        STUNMessageBuilder(method: request.method, class: .successResponse, transactionID: request.transactionID)
    }

    func error(code: Int, reason: String) -> STUNMessageBuilder {
        var b = STUNMessageBuilder(method: request.method, class: .errorResponse, transactionID: request.transactionID)
        b.appendErrorCode(code, reason: reason)
        return b
    }

    /// Adds SOFTWARE (unless told not to), the integrity attribute the request used (when
    /// authenticated) and FINGERPRINT (when the request had one), then queues it. Returns the
    /// bytes sent.
    @discardableResult
    func send(_ builder: STUNMessageBuilder, key: [UInt8]?, software withSoftware: Bool = true, out: Outbox) -> [UInt8] {
        var b = builder
        if withSoftware, let software { b.append(.software, text: software) }
        if let key {
            if request.usesIntegritySHA256 { b.appendMessageIntegritySHA256(key: key) } else { b.appendMessageIntegrity(key: key) }
        }
        if request.contains(.fingerprint) { b.appendFingerprint() }
        out.append(socket: socket, to: tuple.client, bytes: b.bytes)
        return b.bytes
    }
}
