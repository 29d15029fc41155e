import STUN
import Sessions
import TURN

/// Everything `av1relay` can be told, with its defaults. One value type; `--flag VALUE` and a
/// config file's `key = value` lines set the same keys (see `RelayConfiguration.options`).
public struct RelayConfiguration: Sendable, Equatable {
    /// UDP listening addresses (RFC 8656 §3: 3478 by default).
    public var listen: [TransportAddress] = [TransportAddress(ip: .v4(0x7F00_0001), port: 3478)]
    /// TCP listening addresses (RFC 8656 §3.1: 3478).
    public var tcpListen: [TransportAddress] = [TransportAddress(ip: .v4(0x7F00_0001), port: 3478)]
    /// TLS listening addresses (RFC 8656 §3.1: 5349; 443 gets through school firewalls). Served
    /// when a certificate and key are configured.
    public var tlsListen: [TransportAddress] = [TransportAddress(ip: .v4(0x7F00_0001), port: 5349)]
    /// PEM certificate chain and private key for TLS; reloaded on SIGHUP.
    public var tlsCertificate: String?
    public var tlsKey: String?
    /// Stream limits: handshake and idle timeouts (seconds), bytes waiting to be sent per
    /// connection, connections in total and per source address.
    public var handshakeTimeout: Int64 = 10
    public var idleTimeout: Int64 = 600
    public var streamBuffer = 256 * 1024
    public var maxConnections = 10_000
    public var maxConnectionsPerAddress = 64
    /// Addresses relay sockets bind to and that clients are told (one per family).
    public var relayAddresses: [IPAddress] = [.v4(0x7F00_0001)]
    /// Behind 1:1 NAT: the public address clients are told for each relay address (one per
    /// family); relay sockets still bind the private one.
    public var externalAddresses: [ExternalAddress] = []
    public var minPort: UInt16 = 49152
    public var maxPort: UInt16 = 65535
    public var realm = "av1relay"
    /// Static users: name → password.
    public var users: [String: String] = [:]
    /// TURN REST shared secrets (several at once for rotation).
    public var authSecrets: [String] = []
    public var allowPeers: [CIDR] = []
    /// Pairing enforcement (DESIGN §4): robot:<id> / app:<id> credentials reach only each other.
    public var pairing = false
    /// In-process delivery between two allocations of this relay (DESIGN §4).
    public var hairpin = true
    /// RFC 8016 mobility: allocations that ask get a MOBILITY-TICKET that moves them to a new
    /// 5-tuple (a robot from Wi-Fi to 4G).
    public var mobility = true
    /// Session records (DESIGN §5): a JSON Lines file (nil: none) and/or standard output.
    public var sessionLog: String? = "sessions.jsonl"
    public var sessionStdout = false
    public var sessionInterim = 30
    public var sessionIdle = 30
    public var sessionLogMaxBytes = 64 << 20
    public var sessionLogKeep = 5
    /// Records kept in memory while the session log cannot be written; past it the oldest go.
    public var sessionLogBacklog = 10_000
    /// Where the relay keeps its own files: the SQLite store and the store's spool.
    public var stateDirectory = "."
    /// The session store: `sqlite` (`<state-directory>/sessions.sqlite`), `sqlite:PATH`, a
    /// `postgres://` URL (a fleet's one database; it may hold a password), or nil.
    public var sessionStore: String? = "sqlite"
    public var sessionSpoolMaxBytes = 64 << 20
    /// Records of sessions that ended longer ago than this are erased (hourly).
    public var retentionDays = 90
    /// Audit entries older than this are erased with the hourly retention run.
    public var auditRetentionDays = 365
    /// The admin API's HTTP listener (nil: off).
    public var adminListen: TransportAddress? = TransportAddress("127.0.0.1:9478")
    /// The admin API's TLS certificate chain and key (PEM); both or neither. Read at start.
    public var adminTLSCertificate: String?
    public var adminTLSKey: String?
    /// Bearer tokens of the admin API, as SHA-256 hashes (a token itself is never configured).
    public var adminTokens: [AdminToken] = []
    /// 0 means unlimited.
    public var userQuota = 16
    public var totalQuota = 20_000
    /// Bytes per second each allocation may send to peers; 0 means unlimited.
    public var maxBps = 1_250_000
    /// Requests per second per source address that draw a 401 or make an Allocate, and the
    /// burst (per worker); 0 means unlimited.
    public var sourceRate = 50
    public var sourceBurst = 200
    public var defaultLifetime: Int64 = 600
    public var maxLifetime: Int64 = 3600
    public var nonceLifetime: Int64 = 600
    /// 0 means one per core.
    public var workers = 0
    public var logLevel = "info"
    /// Seconds between statistics lines in the log; 0 turns them off.
    public var statsInterval = 60
    /// `rfc8656` (channels 0x4000–0x4FFF) or `rfc5766` (0x4000–0x7FFF, for older clients).
    public var channelRange = "rfc8656"
    /// This relay's name in its fleet, and the fleet's members (this one among them): with
    /// pairing on, a device's first Allocate is steered to its home relay (DESIGN §8).
    public var fleetSelf: String?
    /// SIGUSR1 drains: live calls go on up to this many seconds, then the relay exits.
    public var drainTimeout: Int64 = 3600
    /// A file that exists while the relay serves and is not draining (a readiness probe).
    public var readyFile: String?
    public var fleetMembers: [FleetMember] = []
    /// Membership from DNS instead of a list: the A/AAAA records of this name (a Kubernetes
    /// headless Service of ready pods) are the live members, named by their IP, reached on this
    /// relay's own UDP/TCP and TLS ports; resolved again every `fleetRefresh` seconds.
    public var fleetDNS: String?
    public var fleetRefresh = 10
    /// The fleet channel's shared secret: with it, partners allocated on two members connect
    /// (cross-relay pairing). The same on every member.
    public var fleetSecret: String?

    /// The fleet as configured; nil without members.
    /// The SQLite store's file, when the store is SQLite.
    public var sessionStorePath: String? {
        guard let store = sessionStore, store.hasPrefix("sqlite") else { return nil }
        if store == "sqlite" { return inStateDirectory("sessions.sqlite") }
        return String(store.dropFirst("sqlite:".count))
    }

    /// The PostgreSQL store's settings, when the store is PostgreSQL (parsed when configured).
    public var postgresStore: PostgresSettings? {
        guard let store = sessionStore, store.hasPrefix("postgres") else { return nil }
        return try? PostgresSettings(url: store)
    }

    /// The audit trail's file when there is no session store (with one, the trail is in it).
    public var auditLogPath: String { inStateDirectory("audit.jsonl") }

    /// Where records wait while the store is unavailable.
    public var sessionSpoolPath: String { inStateDirectory("session-spool.jsonl") }

    func inStateDirectory(_ name: String) -> String {
        stateDirectory.hasSuffix("/") ? stateDirectory + name : stateDirectory + "/" + name
    }

    public var fleet: FleetView? {
        guard let fleetSelf, !fleetMembers.isEmpty else { return nil }
        return FleetView(selfName: fleetSelf, members: fleetMembers)
    }

    /// Keys given explicitly, in any layer (file, environment, flags).
    var explicit: Set<String> = []
    /// List keys given in the layer being applied: a layer's first value replaces what the layers
    /// below it (defaults, the file) gave, its later ones add.
    var listKeysInLayer: Set<String> = []

    /// The TLS listeners that will serve: none without a certificate.
    public var activeTLSListen: [TransportAddress] { tlsCertificate == nil ? [] : tlsListen }

    public init() {}

    /// A readable reason a configuration cannot run, naming the key.
    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public var key: String
        public var reason: String
        public var description: String { "invalid \(key): \(reason)" }
    }

    /// Checks what single keys cannot: relations between them.
    public func validate() throws(Invalid) {
        if listen.isEmpty && tcpListen.isEmpty && activeTLSListen.isEmpty {
            throw Invalid(key: "listen", reason: "at least one listening address (UDP, TCP or TLS) is needed")
        }
        if (tlsCertificate == nil) != (tlsKey == nil) {
            throw Invalid(key: tlsCertificate == nil ? "tls-cert" : "tls-key", reason: "tls-cert and tls-key go together")
        }
        if (adminTLSCertificate == nil) != (adminTLSKey == nil) {
            throw Invalid(
                key: adminTLSCertificate == nil ? "admin-tls-cert" : "admin-tls-key", reason: "admin-tls-cert and admin-tls-key go together"
            )
        }
        if explicit.contains("tls-listen") && !tlsListen.isEmpty && tlsCertificate == nil {
            throw Invalid(key: "tls-listen", reason: "TLS needs tls-cert and tls-key")
        }
        if relayAddresses.isEmpty { throw Invalid(key: "relay-address", reason: "at least one relay address is needed") }
        if Set(relayAddresses.map(\.family)).count != relayAddresses.count {
            throw Invalid(key: "relay-address", reason: "give at most one address per family")
        }
        for e in externalAddresses where e.local.map({ $0.family != e.public.family }) ?? false {
            throw Invalid(key: "external-address", reason: "PUBLIC and PRIVATE must be of one family")
        }
        if Set(externalAddresses.map(\.public.family)).count != externalAddresses.count {
            throw Invalid(key: "external-address", reason: "give at most one per family")
        }
        for e in externalAddresses where !relayAddresses.contains(where: { $0.family == e.public.family }) {
            throw Invalid(key: "external-address", reason: "\(e.public) has no relay-address of its family to stand for")
        }
        if minPort > maxPort { throw Invalid(key: "min-port", reason: "\(minPort) is above max-port \(maxPort)") }
        if minPort < 1024 { throw Invalid(key: "min-port", reason: "relay ports below 1024 are reserved") }
        if defaultLifetime > maxLifetime {
            throw Invalid(key: "default-lifetime", reason: "\(defaultLifetime) is above max-lifetime \(maxLifetime)")
        }
        if realm.isEmpty || realm.utf8.count > 763 {
            throw Invalid(key: "realm", reason: "must be 1 to 763 bytes (RFC 8489 §14.9)")
        }
        if fleetDNS != nil {
            guard fleetMembers.isEmpty else {
                throw Invalid(key: "fleet-dns", reason: "give fleet-dns or fleet-member entries, not both")
            }
            guard let fleetSelf, IPAddress(fleetSelf) != nil else {
                throw Invalid(key: "fleet-self", reason: "with fleet-dns, this relay's own IP as the records list it (e.g. the pod IP)")
            }
            guard !listen.isEmpty || !tcpListen.isEmpty else {
                throw Invalid(key: "fleet-dns", reason: "members are reached on this relay's UDP/TCP port: give listen or tcp-listen")
            }
        } else if !fleetMembers.isEmpty {
            guard let fleetSelf else { throw Invalid(key: "fleet-self", reason: "a fleet (fleet-member) needs this relay's name") }
            guard fleetMembers.contains(where: { $0.name == fleetSelf }) else {
                throw Invalid(key: "fleet-self", reason: "'\(fleetSelf)' is not one of the fleet-member names")
            }
            if Set(fleetMembers.map(\.name)).count != fleetMembers.count {
                throw Invalid(key: "fleet-member", reason: "each member needs a name of its own")
            }
        } else if fleetSelf != nil {
            throw Invalid(key: "fleet-member", reason: "fleet-self needs the fleet's members")
        }
        if fleetSecret != nil && fleetSelf == nil {
            throw Invalid(key: "fleet-secret", reason: "a fleet channel needs a fleet (fleet-self and its members)")
        }
        if !["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(logLevel) {
            throw Invalid(key: "log-level", reason: "'\(logLevel)' is not one of trace, debug, info, notice, warning, error, critical")
        }
    }
}

// MARK: - Options: one table drives flags, config files and --help

extension RelayConfiguration {
    struct Option: Sendable {
        var key: String
        var value: String
        var help: String
        var repeatable = false
        /// For repeatable keys: empties the list before a layer's first value.
        var reset: (@Sendable (inout RelayConfiguration) -> Void)? = nil
        var apply: @Sendable (inout RelayConfiguration, String) throws(Invalid) -> Void
    }

    static func number<T: FixedWidthInteger>(_ key: String, _ text: String, _ range: ClosedRange<T>) throws(Invalid) -> T {
        guard let v = T(text), range.contains(v) else {
            throw Invalid(key: key, reason: "'\(text)' is not a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return v
    }

    /// What is wrong with an `admin-token` value, without repeating any of it.
    static func adminTokenProblem(_ v: String) -> String {
        let form = "NAME:read|admin:<64 hex digits of SHA-256>[:DEVICE,PREFIX*,...]"
        let parts = v.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 3 else {
            return
                "expected \(form), got \(parts.count) field\(parts.count == 1 ? "" : "s") (the token itself goes to clients; give its SHA-256, as av1relay admin-token prints)"
        }
        if parts[0].isEmpty { return "expected \(form): the name is empty" }
        if !["read", "admin"].contains(parts[1]) { return "expected \(form): the scope is read or admin" }
        if parts[2].count != 64 || !parts[2].allSatisfy(\.isHexDigit) { return "expected \(form): the third field is 64 hex digits" }
        return "expected \(form): the devices are ids or PREFIX* patterns, comma-separated"
    }

    static func onOff(_ key: String, _ text: String) throws(Invalid) -> Bool {
        guard text == "on" || text == "off" else { throw Invalid(key: key, reason: "'\(text)' is not on or off") }
        return text == "on"
    }

    static let options: [Option] = [
        Option(
            key: "listen", value: "ADDR:PORT", help: "UDP address to serve on; 'none' for no UDP (default 127.0.0.1:3478)",
            repeatable: true,
            reset: { $0.listen = [] }
        ) {
            c, v throws(Invalid) in try c.addListener(\.listen, "listen", v, defaultPort: 3478)
        },
        Option(
            key: "tcp-listen", value: "ADDR:PORT", help: "TCP address to serve on; 'none' for no TCP (default 127.0.0.1:3478)",
            repeatable: true, reset: { $0.tcpListen = [] }
        ) {
            c, v throws(Invalid) in try c.addListener(\.tcpListen, "tcp-listen", v, defaultPort: 3478)
        },
        Option(
            key: "tls-listen", value: "ADDR:PORT",
            help: "TLS address to serve on when tls-cert is set, e.g. 0.0.0.0:443 (default 127.0.0.1:5349)", repeatable: true,
            reset: { $0.tlsListen = [] }
        ) {
            c, v throws(Invalid) in try c.addListener(\.tlsListen, "tls-listen", v, defaultPort: 5349)
        },
        Option(key: "tls-cert", value: "FILE", help: "PEM certificate chain for TLS; reloaded with the key on SIGHUP") {
            c, v throws(Invalid) in
            c.tlsCertificate = v
        },
        Option(key: "tls-key", value: "FILE", help: "PEM private key for TLS") { c, v throws(Invalid) in c.tlsKey = v },
        Option(
            key: "handshake-timeout", value: "SECONDS",
            help: "TCP/TLS: time to finish the TLS handshake or send a first message (default 10)"
        ) {
            c, v throws(Invalid) in c.handshakeTimeout = try number("handshake-timeout", v, 1...300)
        },
        Option(key: "idle-timeout", value: "SECONDS", help: "TCP/TLS: close a connection that sent nothing this long (default 600)") {
            c, v throws(Invalid) in c.idleTimeout = try number("idle-timeout", v, 5...86_400)
        },
        Option(
            key: "stream-buffer", value: "BYTES",
            help: "TCP/TLS: bytes waiting to be sent to a connection before it is closed (default 262144)"
        ) {
            c, v throws(Invalid) in c.streamBuffer = try number("stream-buffer", v, 131_072...64 << 20)
        },
        Option(key: "max-connections", value: "N", help: "TCP/TLS connections in total (default 10000)") { c, v throws(Invalid) in
            c.maxConnections = try number("max-connections", v, 1...1_000_000)
        },
        Option(key: "max-connections-per-address", value: "N", help: "TCP/TLS connections from one IP address (default 64)") {
            c, v throws(Invalid) in c.maxConnectionsPerAddress = try number("max-connections-per-address", v, 1...1_000_000)
        },
        Option(
            key: "relay-address", value: "IP", help: "address relay ports bind to, one per family (default 127.0.0.1)", repeatable: true,
            reset: { $0.relayAddresses = [] }
        ) {
            c, v throws(Invalid) in
            guard let ip = IPAddress(v) else { throw Invalid(key: "relay-address", reason: "'\(v)' is not an IP address") }
            c.relayAddresses.append(ip)
        },
        Option(
            key: "external-address", value: "PUBLIC[=PRIVATE]",
            help: "behind 1:1 NAT: tell clients PUBLIC for relayed addresses; PRIVATE (default: relay-address) is bound",
            repeatable: true, reset: { $0.externalAddresses = [] }
        ) {
            c, v throws(Invalid) in
            let parts = v.split(separator: "=", omittingEmptySubsequences: false).map(String.init)
            guard parts.count <= 2, let shown = IPAddress(parts[0]) else {
                throw Invalid(key: "external-address", reason: "'\(v)' is not PUBLIC[=PRIVATE], e.g. 203.0.113.7=10.0.0.7")
            }
            var local: IPAddress?
            if parts.count == 2 {
                guard let l = IPAddress(parts[1]) else {
                    throw Invalid(key: "external-address", reason: "'\(parts[1])' is not an IP address")
                }
                local = l
            }
            c.externalAddresses.append(ExternalAddress(public: shown, local: local))
        },
        Option(key: "min-port", value: "N", help: "lowest relay port (default 49152)") { c, v throws(Invalid) in
            c.minPort = try number("min-port", v, 1...65535)
        },
        Option(key: "max-port", value: "N", help: "highest relay port (default 65535)") { c, v throws(Invalid) in
            c.maxPort = try number("max-port", v, 1...65535)
        },
        Option(key: "realm", value: "TEXT", help: "authentication realm (default av1relay)") { c, v throws(Invalid) in c.realm = v },
        Option(
            key: "user", value: "NAME:PASSWORD", help: "a static credential; NAME may hold ':' (robot:ID), PASSWORD may not",
            repeatable: true, reset: { $0.users = [:] }
        ) {
            c, v throws(Invalid) in
            guard let colon = v.lastIndex(of: ":"), colon != v.startIndex, v.index(after: colon) != v.endIndex else {
                throw Invalid(key: "user", reason: "expected NAME:PASSWORD")
            }
            c.users[String(v[..<colon])] = String(v[v.index(after: colon)...])
        },
        Option(
            key: "auth-secret", value: "SECRET", help: "TURN REST shared secret (coturn use-auth-secret); repeat to rotate",
            repeatable: true, reset: { $0.authSecrets = [] }
        ) {
            c, v throws(Invalid) in
            guard !v.isEmpty else { throw Invalid(key: "auth-secret", reason: "must not be empty") }
            c.authSecrets.append(v)
        },
        Option(
            key: "allow-peer", value: "CIDR", help: "peer range to allow although the default policy denies it", repeatable: true,
            reset: { $0.allowPeers = [] }
        ) {
            c, v throws(Invalid) in
            guard let cidr = CIDR(v) else { throw Invalid(key: "allow-peer", reason: "'\(v)' is not a CIDR like 10.0.0.0/8") }
            c.allowPeers.append(cidr)
        },
        Option(
            key: "hairpin", value: "on|off",
            help: "deliver between allocations of this relay in process, not through the kernel (default on)"
        ) {
            c, v throws(Invalid) in
            c.hairpin = try onOff("hairpin", v)
        },
        Option(
            key: "mobility", value: "on|off",
            help:
                "RFC 8016: an allocation that asks gets a MOBILITY-TICKET, and keeps its call when its client's address changes (default on)"
        ) {
            c, v throws(Invalid) in
            c.mobility = try onOff("mobility", v)
        },
        Option(
            key: "pairing", value: "on|off",
            help: "robot:<id>/app:<id> credentials may reach only their partner; others get 403 (default off)"
        ) {
            c, v throws(Invalid) in
            c.pairing = try onOff("pairing", v)
        },
        Option(
            key: "session-log", value: "FILE",
            help: "JSON Lines file for session records, fsync'd per record; 'none' for no file (default sessions.jsonl)"
        ) {
            c, v throws(Invalid) in
            guard !v.isEmpty else { throw Invalid(key: "session-log", reason: "give a file or none") }
            c.sessionLog = v == "none" ? nil : v
        },
        Option(key: "session-stdout", value: "on|off", help: "also write session records to standard output (default off)") {
            c, v throws(Invalid) in
            c.sessionStdout = try onOff("session-stdout", v)
        },
        Option(key: "session-interim", value: "SECONDS", help: "seconds between interim records of a live session (default 30)") {
            c, v throws(Invalid) in c.sessionInterim = try number("session-interim", v, 1...86_400)
        },
        Option(
            key: "session-idle", value: "SECONDS", help: "a session ends after this long without traffic or without one side (default 30)"
        ) {
            c, v throws(Invalid) in c.sessionIdle = try number("session-idle", v, 1...86_400)
        },
        Option(key: "session-log-max-bytes", value: "BYTES", help: "rotate the session log past this size (default 67108864)") {
            c, v throws(Invalid) in c.sessionLogMaxBytes = try number("session-log-max-bytes", v, 4096...1 << 40)
        },
        Option(key: "session-log-keep", value: "N", help: "rotated session logs kept (default 5)") { c, v throws(Invalid) in
            c.sessionLogKeep = try number("session-log-keep", v, 1...1000)
        },
        Option(
            key: "session-log-backlog", value: "N",
            help:
                "records held in memory while the session log cannot be written (disk full, read-only); past it the oldest are dropped, counted (default 10000)"
        ) { c, v throws(Invalid) in
            c.sessionLogBacklog = try number("session-log-backlog", v, 1...1_000_000)
        },
        Option(key: "state-directory", value: "DIR", help: "where the session store and its spool live (default .)") {
            c, v throws(Invalid) in
            guard !v.isEmpty else { throw Invalid(key: "state-directory", reason: "give a directory") }
            c.stateDirectory = v
        },
        Option(
            key: "session-store", value: "STORE",
            help:
                "where records are kept to be queried: sqlite (state-directory/sessions.sqlite), sqlite:FILE, postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require] (one for a fleet) or none (default sqlite)"
        ) {
            c, v throws(Invalid) in
            if v == "none" {
                c.sessionStore = nil
            } else if v == "sqlite" || (v.hasPrefix("sqlite:") && v.count > "sqlite:".count) {
                c.sessionStore = v
            } else if v.hasPrefix("postgres://") || v.hasPrefix("postgresql://") {
                do {
                    _ = try PostgresSettings(url: v)
                } catch {
                    throw Invalid(key: "session-store", reason: "\(error)")
                }
                c.sessionStore = v
            } else {
                throw Invalid(key: "session-store", reason: "it is sqlite, sqlite:FILE, postgres://USER@HOST/DATABASE or none")
            }
        },
        Option(
            key: "session-spool-max-bytes", value: "BYTES",
            help: "records wait on disk up to this much while the store is unavailable (default 67108864)"
        ) {
            c, v throws(Invalid) in c.sessionSpoolMaxBytes = try number("session-spool-max-bytes", v, 4096...1 << 40)
        },
        Option(
            key: "retention-days", value: "DAYS",
            help: "records of sessions that ended longer ago are erased every hour, from store, log and spool (default 90)"
        ) {
            c, v throws(Invalid) in c.retentionDays = try number("retention-days", v, 1...36_500)
        },
        Option(
            key: "audit-retention-days", value: "DAYS",
            help: "audit entries older than this are erased every hour; the newest is always kept (default 365)"
        ) {
            c, v throws(Invalid) in c.auditRetentionDays = try number("audit-retention-days", v, 1...36_500)
        },
        Option(
            key: "admin-listen", value: "ADDR:PORT", help: "the admin API's HTTP address; 'none' turns it off (default 127.0.0.1:9478)"
        ) {
            c, v throws(Invalid) in
            if v == "none" {
                c.adminListen = nil
            } else {
                guard let a = TransportAddress(v) else { throw Invalid(key: "admin-listen", reason: "'\(v)' is not ADDR:PORT or none") }
                c.adminListen = a
            }
        },
        Option(
            key: "admin-tls-cert", value: "FILE",
            help: "PEM certificate chain: the admin API speaks HTTPS (with admin-tls-key; read at start, a new one takes a restart)"
        ) { c, v throws(Invalid) in c.adminTLSCertificate = v },
        Option(key: "admin-tls-key", value: "FILE", help: "PEM private key of admin-tls-cert") { c, v throws(Invalid) in c.adminTLSKey = v
        },
        Option(
            key: "admin-token", value: "NAME:SCOPE:SHA256[:DEVICES]",
            help:
                "an admin API bearer token by the hex SHA-256 of the token; SCOPE read or admin; DEVICES (ids, PREFIX*) limits it to those devices (av1relay admin-token makes one)",
            repeatable: true, reset: { $0.adminTokens = [] }
        ) {
            c, v throws(Invalid) in
            // Never quoted: a token pasted here by mistake would reach the log.
            guard let token = AdminToken(v) else { throw Invalid(key: "admin-token", reason: adminTokenProblem(v)) }
            guard !c.adminTokens.contains(where: { $0.name == token.name }) else {
                throw Invalid(key: "admin-token", reason: "the name '\(token.name)' is given twice")
            }
            c.adminTokens.append(token)
        },
        Option(key: "user-quota", value: "N", help: "allocations per user, 0 = unlimited (default 16)") { c, v throws(Invalid) in
            c.userQuota = try number("user-quota", v, 0...1_000_000)
        },
        Option(key: "total-quota", value: "N", help: "allocations in total, 0 = unlimited (default 20000)") { c, v throws(Invalid) in
            c.totalQuota = try number("total-quota", v, 0...10_000_000)
        },
        Option(key: "max-bps", value: "BYTES", help: "bytes per second each allocation may send to peers, 0 = unlimited (default 1250000)")
        {
            c, v throws(Invalid) in c.maxBps = try number("max-bps", v, 0...10_000_000_000)
        },
        Option(
            key: "source-rate", value: "N",
            help: "401 challenges and Allocates answered per second per source address (per worker), 0 = unlimited (default 50)"
        ) {
            c, v throws(Invalid) in c.sourceRate = try number("source-rate", v, 0...1_000_000)
        },
        Option(key: "source-burst", value: "N", help: "how many of those a source may have at once (default 200)") {
            c, v throws(Invalid) in c.sourceBurst = try number("source-burst", v, 1...10_000_000)
        },
        Option(key: "default-lifetime", value: "SECONDS", help: "allocation lifetime when the client asks less (default 600)") {
            c, v throws(Invalid) in c.defaultLifetime = try number("default-lifetime", v, 60...86_400)
        },
        Option(key: "max-lifetime", value: "SECONDS", help: "longest allocation lifetime granted (default 3600)") {
            c, v throws(Invalid) in c.maxLifetime = try number("max-lifetime", v, 60...86_400)
        },
        Option(key: "nonce-lifetime", value: "SECONDS", help: "how long a nonce stays valid before 438 (default 600)") {
            c, v throws(Invalid) in c.nonceLifetime = try number("nonce-lifetime", v, 10...86_400)
        },
        Option(key: "workers", value: "N", help: "data-plane workers, 0 = one per core (default 0)") { c, v throws(Invalid) in
            c.workers = try number("workers", v, 0...256)
        },
        Option(key: "log-level", value: "LEVEL", help: "trace, debug, info, notice, warning, error or critical (default info)") {
            c, v throws(Invalid) in c.logLevel = v
        },
        Option(
            key: "channel-range", value: "RFC",
            help: "rfc8656: channels 0x4000-0x4FFF; rfc5766: up to 0x7FFF, as older clients such as turnutils_uclient use (default rfc8656)"
        ) {
            c, v throws(Invalid) in
            guard v == "rfc8656" || v == "rfc5766" else {
                throw Invalid(key: "channel-range", reason: "'\(v)' is not rfc8656 or rfc5766")
            }
            c.channelRange = v
        },
        Option(
            key: "drain-timeout", value: "SECONDS",
            help: "SIGUSR1 drains: live calls go on until they end or this long, then exit 0 (default 3600)"
        ) {
            c, v throws(Invalid) in c.drainTimeout = try number("drain-timeout", v, 0...86_400)
        },
        Option(
            key: "ready-file", value: "FILE", help: "created when serving, removed when draining or stopping (readiness probe)"
        ) {
            c, v throws(Invalid) in
            guard !v.isEmpty else { throw Invalid(key: "ready-file", reason: "give a path") }
            c.readyFile = v
        },
        Option(key: "fleet-self", value: "NAME", help: "this relay's name among the fleet-member entries") { c, v throws(Invalid) in
            guard !v.isEmpty else { throw Invalid(key: "fleet-self", reason: "must not be empty") }
            c.fleetSelf = v
        },
        Option(
            key: "fleet-dns", value: "NAME",
            help: "members from DNS: the A/AAAA records of NAME (a headless Service), named by IP, on this relay's ports"
        ) {
            c, v throws(Invalid) in
            guard !v.isEmpty else { throw Invalid(key: "fleet-dns", reason: "give a DNS name") }
            c.fleetDNS = v
        },
        Option(
            key: "fleet-secret", value: "SECRET",
            help:
                "the fleet's shared secret, the same on every member: the fleet channel, and nonces every member accepts (better AV1RELAY_FLEET_SECRET or fleet-secret-file)"
        ) {
            c, v throws(Invalid) in
            guard v.utf8.count >= 16 else { throw Invalid(key: "fleet-secret", reason: "use at least 16 bytes") }
            c.fleetSecret = v
        },
        Option(key: "fleet-refresh", value: "SECONDS", help: "seconds between DNS lookups of fleet-dns (default 10)") {
            c, v throws(Invalid) in c.fleetRefresh = try number("fleet-refresh", v, 1...3600)
        },
        Option(
            key: "fleet-member", value: "NAME=IP:PORT[,tls=IP:PORT][,domain=NAME]",
            help: "a relay of the fleet (this one too): where clients reach it over UDP/TCP, TLS, and its certificate's name",
            repeatable: true, reset: { $0.fleetMembers = [] }
        ) {
            c, v throws(Invalid) in c.fleetMembers.append(try fleetMember(v))
        },
        Option(key: "stats-interval", value: "SECONDS", help: "seconds between statistics log lines, 0 = off (default 60)") {
            c, v throws(Invalid) in c.statsInterval = try number("stats-interval", v, 0...86_400)
        },
    ]

    /// `NAME=IP:PORT[,tls=IP:PORT][,domain=NAME]`.
    static func fleetMember(_ v: String) throws(Invalid) -> FleetMember {
        let bad = Invalid(key: "fleet-member", reason: "'\(v)' is not NAME=IP:PORT[,tls=IP:PORT][,domain=NAME]")
        guard let eq = v.firstIndex(of: "="), eq != v.startIndex else { throw bad }
        let fields = v[v.index(after: eq)...].split(separator: ",").map(String.init)
        guard let first = fields.first, let address = TransportAddress(first, defaultPort: 3478) else { throw bad }
        var member = FleetMember(name: String(v[..<eq]), address: address)
        for field in fields.dropFirst() {
            if field.hasPrefix("tls="), let tls = TransportAddress(String(field.dropFirst(4)), defaultPort: 5349) {
                member.tls = tls
            } else if field.hasPrefix("domain="), field.count > 7 {
                member.tlsDomain = String(field.dropFirst(7))
            } else {
                throw bad
            }
        }
        return member
    }

    /// Adds a listening address to a list (`none` adds nothing: a layer of only `none` empties it).
    mutating func addListener(
        _ list: WritableKeyPath<RelayConfiguration, [TransportAddress]>, _ key: String, _ v: String, defaultPort: UInt16
    ) throws(Invalid) {
        if v == "none" { return }
        guard let a = TransportAddress(v, defaultPort: defaultPort) else {
            throw Invalid(key: key, reason: "'\(v)' is not an address like 127.0.0.1:\(defaultPort) or [::1]:\(defaultPort)")
        }
        self[keyPath: list].append(a)
    }
}

/// One `external-address`: what clients are told, and the relay address it stands for.
public struct ExternalAddress: Sendable, Equatable {
    public var `public`: IPAddress
    /// The private address relay sockets bind to; nil: the relay-address of the same family.
    public var local: IPAddress?

    public init(public: IPAddress, local: IPAddress? = nil) {
        self.public = `public`
        self.local = local
    }
}

extension RelayConfiguration {
    /// Relay addresses to bind, with an external address's PRIVATE side in place of its
    /// family's relay-address.
    public var boundRelayAddresses: [IPAddress] {
        relayAddresses.map { a in externalAddresses.first { $0.public.family == a.family }?.local ?? a }
    }

    /// Bound relay address → the public one clients are told.
    public var advertisedRelayAddresses: [IPAddress: IPAddress] {
        var out: [IPAddress: IPAddress] = [:]
        for a in boundRelayAddresses {
            if let e = externalAddresses.first(where: { $0.public.family == a.family }) { out[a] = e.public }
        }
        return out
    }
}

/// An admin API bearer token as the configuration holds it: a name (for logs and audit), a
/// scope, the SHA-256 of the token and, if limited, its devices (`admin-token NAME:SCOPE:SHA256[:DEVICES]`).
public struct AdminToken: Sendable, Equatable, CustomStringConvertible {
    public enum Scope: String, Sendable {
        /// Status, sessions.
        case read
        /// Also export, erasure, drain and reload.
        case admin
    }

    public var name: String
    public var scope: Scope
    public var sha256: [UInt8]
    /// The devices the token may see, as ids or `PREFIX*` patterns; nil: every device.
    public var devices: [String]?

    public init(name: String, scope: Scope, sha256: [UInt8], devices: [String]? = nil) {
        self.name = name
        self.scope = scope
        self.sha256 = sha256
        self.devices = devices
    }

    /// `NAME:SCOPE:HEX[:DEVICES]`, HEX 64 hex digits, DEVICES a comma-separated list of device
    /// ids and `PREFIX*` patterns.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3 || parts.count == 4, !parts[0].isEmpty, let scope = Scope(rawValue: parts[1]), parts[2].utf8.count == 64
        else { return nil }
        var bytes: [UInt8] = []
        var chars = parts[2].makeIterator()
        while let hi = chars.next(), let lo = chars.next() {
            guard let b = UInt8(String([hi, lo]), radix: 16) else { return nil }
            bytes.append(b)
        }
        var devices: [String]?
        if parts.count == 4 {
            let list = parts[3].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard list.allSatisfy({ Self.isDevicePattern($0) }) else { return nil }
            devices = list
        }
        self.init(name: parts[0], scope: scope, sha256: bytes, devices: devices)
    }

    /// A device id (1–128 of letters, digits, `.`, `_`, `~`, `-`, as credentials carry them).
    public static func isDeviceID(_ id: some StringProtocol) -> Bool {
        (1...128).contains(id.utf8.count)
            && id.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || [0x2E, 0x5F, 0x7E, 0x2D].contains(c)
            }
    }

    /// A device id, or a prefix of one followed by `*`.
    static func isDevicePattern(_ p: String) -> Bool { isDeviceID(p.hasSuffix("*") ? String(p.dropLast()) : p) }

    /// Whether the token may see `device`'s records.
    public func allows(device: String) -> Bool {
        guard let devices else { return true }
        return devices.contains { $0.hasSuffix("*") ? device.hasPrefix($0.dropLast()) : device == $0 }
    }

    /// Names the token, never its hash.
    public var description: String { "\(name):\(scope.rawValue)" + (devices.map { ":" + $0.joined(separator: ",") } ?? "") }

    /// The SHA-256 the configuration keeps of a bearer token.
    public static func hash(of token: some StringProtocol) -> [UInt8] { STUNCrypto.sha256(Array(token.utf8)) }

    /// A new random token (64 hex digits) and its configuration value, `NAME:SCOPE:SHA256[:DEVICES]`.
    public static func make(name: String, scope: Scope, devices: [String]? = nil) -> (token: String, configuration: String) {
        func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
        let token = hex(STUNCrypto.randomBytes(32))
        return (token, "\(name):\(scope.rawValue):\(hex(hash(of: token)))" + (devices.map { ":" + $0.joined(separator: ",") } ?? ""))
    }
}
