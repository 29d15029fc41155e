import RelayIO
import STUN
import TURN

/// What a reload did: the keys it changed (counts, never a secret), or why it refused.
public struct ReloadOutcome: Sendable, Equatable, CustomStringConvertible {
    /// Keys applied, each with a summary such as "2 → 3 secrets".
    public var changed: [String: String] = [:]
    /// Set when nothing was applied, with the reason.
    public var refused: String?

    public var description: String {
        if let refused { return "refused: \(refused)" }
        return changed.isEmpty
            ? "nothing changed" : changed.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; ")
    }
}

extension RelayServer {
    /// Keys a reload may change while calls go on. Everything else (listeners, relay ports,
    /// pairing, lifetimes, …) needs a restart, and a reload that changes it is refused whole.
    public static let reloadableKeys: Set<String> = [
        "tls-cert", "tls-key", "auth-secret", "user", "allow-peer", "user-quota", "total-quota", "max-bps", "fleet-member",
        "admin-token", "source-rate", "source-burst",
    ]

    static func authenticator(_ c: RelayConfiguration, nonceKey: [UInt8]) -> Authenticator {
        Authenticator(realm: c.realm, users: c.users, secrets: c.authSecrets, nonceLifetimeSeconds: c.nonceLifetime, nonceKey: nonceKey)
    }

    /// Applies a new configuration's live keys — TLS certificate and key (read again even when
    /// the paths are the same: a rotated file), REST secrets, static users, the peer allow-list,
    /// quotas — to every worker, between two packets; no allocation, connection or session is
    /// touched. All or nothing: a changed key that needs a restart, or a TLS file that does not
    /// load, refuses the whole reload and the relay goes on as it was. Logs the outcome.
    @discardableResult
    public func reload(to new: RelayConfiguration) -> ReloadOutcome {
        let outcome = applyReload(new)
        if let refused = outcome.refused {
            logger.error("configuration reload refused, nothing changed", metadata: ["reason": "\(refused)"])
        } else {
            logger.info(
                "configuration reloaded", metadata: outcome.changed.isEmpty ? ["changed": "nothing"] : outcome.changed.mapValues { "\($0)" }
            )
        }
        return outcome
    }

    private func applyReload(_ new: RelayConfiguration) -> ReloadOutcome {
        let old = configuration
        do { try new.validate() } catch { return ReloadOutcome(refused: "\(error)") }
        if let key = Self.firstDifference(old, new, ignoring: Self.reloadableKeys) {
            return ReloadOutcome(refused: "\(key) cannot change without a restart")
        }
        if (old.tlsCertificate == nil) != (new.tlsCertificate == nil) {
            return ReloadOutcome(refused: "turning TLS on or off needs a restart (its listeners)")
        }
        var outcome = ReloadOutcome()
        if let tls, let certificate = new.tlsCertificate, let key = new.tlsKey {
            do { try tls.load(certificate: certificate, key: key) } catch {
                return ReloadOutcome(refused: "tls-cert: \(error); the previous certificate stays")
            }
            outcome.changed["tls-cert"] = "reloaded"
        }
        if old.authSecrets != new.authSecrets {
            let kept = Set(old.authSecrets).intersection(new.authSecrets).count
            outcome.changed["auth-secret"] = "\(old.authSecrets.count) → \(new.authSecrets.count) secrets, \(kept) kept"
        }
        if old.users != new.users {
            let changed = old.users.filter { new.users[$0.key] != $0.value }.count
            outcome.changed["user"] = "\(old.users.count) → \(new.users.count) users, \(changed) removed or changed"
        }
        if old.allowPeers != new.allowPeers { outcome.changed["allow-peer"] = "\(old.allowPeers.count) → \(new.allowPeers.count) ranges" }
        if old.userQuota != new.userQuota { outcome.changed["user-quota"] = "\(old.userQuota) → \(new.userQuota)" }
        if old.totalQuota != new.totalQuota { outcome.changed["total-quota"] = "\(old.totalQuota) → \(new.totalQuota)" }
        if old.maxBps != new.maxBps { outcome.changed["max-bps"] = "\(old.maxBps) → \(new.maxBps)" }
        if old.sourceRate != new.sourceRate { outcome.changed["source-rate"] = "\(old.sourceRate) → \(new.sourceRate)" }
        if old.sourceBurst != new.sourceBurst { outcome.changed["source-burst"] = "\(old.sourceBurst) → \(new.sourceBurst)" }
        if old.adminTokens != new.adminTokens {
            let kept = new.adminTokens.filter { old.adminTokens.contains($0) }.count
            outcome.changed["admin-token"] = "\(old.adminTokens.count) → \(new.adminTokens.count) tokens, \(kept) kept"
        }
        if old.fleetMembers != new.fleetMembers {
            outcome.changed["fleet-member"] = "\(old.fleetMembers.count) → \(new.fleetMembers.count) members"
        }
        if discovery == nil { fleetState.withLock { $0 = new.fleet } }
        let fleet = effectiveFleet

        let authenticator = Self.authenticator(new, nonceKey: nonceKey)
        let policy = PeerPolicy(allow: new.allowPeers, ownAddresses: ownAddresses, listenerAddresses: listenerAddresses)
        quota.setLimits(maxPerUser: new.userQuota, maxTotal: new.totalQuota)
        for worker in workers {
            worker.reconfigure {
                $0.authenticator = authenticator
                $0.peerPolicy = policy
                $0.fleet = fleet
                $0.maxBytesPerSecond = new.maxBps
                $0.sourceRate = new.sourceRate
                $0.sourceBurst = new.sourceBurst
            }
        }
        current.withLock { $0 = new }
        return outcome
    }

    /// The first configuration key outside `ignoring` whose value differs, by the option table's
    /// names (the file's and the flags' spelling).
    static func firstDifference(_ a: RelayConfiguration, _ b: RelayConfiguration, ignoring: Set<String>) -> String? {
        let left = Mirror(reflecting: a).children
        let right = Dictionary(uniqueKeysWithValues: Mirror(reflecting: b).children.compactMap { c in c.label.map { ($0, c.value) } })
        for child in left {
            guard let label = child.label, let key = RelayConfiguration.key(ofProperty: label), !ignoring.contains(key) else { continue }
            if "\(child.value)" != right[label].map({ "\($0)" }) { return key }
        }
        return nil
    }
}

extension RelayConfiguration {
    /// The option key of a stored property (`tcpListen` → `tcp-listen`); nil for bookkeeping.
    static func key(ofProperty name: String) -> String? {
        let special = [
            "tlsCertificate": "tls-cert", "relayAddresses": "relay-address", "users": "user", "authSecrets": "auth-secret",
            "allowPeers": "allow-peer", "fleetMembers": "fleet-member", "externalAddresses": "external-address", "fleetDNS": "fleet-dns",
            "fleetSecret": "fleet-secret", "adminTokens": "admin-token",
            "adminTLSCertificate": "admin-tls-cert", "adminTLSKey": "admin-tls-key",
        ]
        if ["explicit", "listKeysInLayer"].contains(name) { return nil }
        if let k = special[name] { return k }
        var out = ""
        for ch in name {
            if ch.isUppercase { out += "-" + ch.lowercased() } else { out.append(ch) }
        }
        return out
    }
}

// MARK: - Drain

extension RelayServer {
    /// Starts draining (DESIGN §8): this relay leaves its own fleet view, so every device's home is
    /// elsewhere; new Allocates of devices with nothing here go there (or get 403 with no fleet),
    /// while every live allocation, permission, channel and session goes on.
    public func startDrain() {
        let already = drainState.withLock { d in
            defer { d = true }
            return d
        }
        guard !already else { return }
        let fleet = effectiveFleet
        for worker in workers {
            worker.reconfigure {
                $0.draining = true
                $0.fleet = fleet
            }
        }
        let s = stats()
        logger.notice(
            "draining: no new calls; live ones go on",
            metadata: ["allocations": "\(s.allocations)", "sessions": "\(sessions.activeSessions)"])
    }

    public var isDraining: Bool { drainState.withLock { $0 } }

    /// Whether nothing is left to wait for: no allocation and no open session.
    public var isIdle: Bool { stats().allocations == 0 && sessions.activeSessions == 0 }

    /// The view the workers steer by: the fleet, without this relay once it drains.
    var effectiveFleet: FleetView? {
        let view = fleetState.withLock { $0 }
        return isDraining ? Self.drainingView(view) : view
    }

    /// A DNS view: the records' members, and this relay among them even before the records list
    /// it (a headless Service of ready pods lists a pod only once it is ready).
    static func view(self name: String, dns: [FleetMember], port: UInt16, tlsPort: UInt16?) -> FleetView {
        var members = dns
        if !members.contains(where: { $0.name == name }), let ip = IPAddress(name) {
            members.append(
                FleetMember(
                    name: name, address: TransportAddress(ip: ip, port: port), tls: tlsPort.map { TransportAddress(ip: ip, port: $0) }))
        }
        return FleetView(selfName: name, members: members.sorted { $0.name < $1.name })
    }

    /// Looks the fleet's DNS name up again and, when the members changed, pushes the new view to
    /// every worker. Returns whether it changed. Called every `fleet-refresh` seconds.
    @discardableResult
    public func refreshFleet() -> Bool {
        guard let discovery, let fleetSelf = configuration.fleetSelf else { return false }
        guard let found = discovery.members() else {
            logger.warning(
                "fleet-dns lookup failed; keeping the last members",
                metadata: ["members": "\(fleetState.withLock { $0?.members.count ?? 0 })"])
            return false
        }
        let view = Self.view(self: fleetSelf, dns: found, port: discovery.port, tlsPort: discovery.tlsPort)
        let old = fleetState.withLock { state -> FleetView? in
            defer { state = view }
            return state
        }
        guard old != view else { return false }
        let fleet = effectiveFleet
        for worker in workers { worker.reconfigure { $0.fleet = fleet } }
        logger.notice("fleet members changed", metadata: ["before": "\(old?.members.count ?? 0)", "now": "\(view.members.count)"])
        return true
    }

    /// The view a draining relay steers by: the others.
    static func drainingView(_ fleet: FleetView?) -> FleetView? {
        fleet.map { f in FleetView(selfName: f.selfName, members: f.members.filter { $0.name != f.selfName }) }
    }
}
