import Foundation
import TURN

extension RelayConfiguration {
    /// What the command line asks for.
    public enum Command: Sendable, Equatable {
        case run(RelayConfiguration)
        /// Validate the configuration (and load the TLS certificate) without serving.
        case check(RelayConfiguration)
        case help
        case version
    }

    /// Parses `--key VALUE` / `--key=VALUE` flags. Layers, each above the one before: defaults,
    /// `--config FILE`, the environment (`AV1RELAY_KEY`, e.g. `AV1RELAY_AUTH_SECRET`; list keys
    /// comma-separated), flags. Errors name the key or line and the reason.
    public static func parse(
        arguments: [String], environment: [String: String] = [:], readFile: (String) throws -> String = defaultReadFile
    ) throws(Invalid) -> Command {
        var pairs: [(key: String, value: String, origin: String)] = []
        var configFile: String?
        var checkOnly = false
        var i = 0
        while i < arguments.count {
            let arg = arguments[i]
            if arg == "--help" || arg == "-h" { return .help }
            if arg == "--version" { return .version }
            if arg == "--check" {
                checkOnly = true
                i += 1
                continue
            }
            // By Unicode scalars, not characters: a combining mark after "--" would join the second
            // "-" into one character, and a key a config file names would fail as a flag
            // (found by FuzzConfig).
            guard arg.unicodeScalars.starts(with: "--".unicodeScalars) else {
                throw Invalid(key: arg, reason: "unexpected argument (flags start with --)")
            }
            var key = String(arg.unicodeScalars.dropFirst(2))
            var value: String
            if let eq = key.firstIndex(of: "=") {
                value = String(key[key.index(after: eq)...])
                key = String(key[..<eq])
            } else {
                guard i + 1 < arguments.count else { throw Invalid(key: key, reason: "needs a value") }
                i += 1
                value = arguments[i]
            }
            if key == "config" {
                configFile = value
            } else {
                pairs.append((key, value, "--\(key)"))
            }
            i += 1
        }
        var config = RelayConfiguration()
        if let configFile {
            let text: String
            do { text = try readFile(configFile) } catch {
                throw Invalid(key: "config", reason: "cannot read \(configFile): \(error.localizedDescription)")
            }
            for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = raw.trimmingCharacters(in: .whitespaces)
                if line.isEmpty || line.hasPrefix("#") { continue }
                guard let eq = line.firstIndex(of: "=") else {
                    throw Invalid(key: "\(configFile):\(number + 1)", reason: "expected key = value")
                }
                let key = line[..<eq].trimmingCharacters(in: .whitespaces)
                var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
                if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
                try config.apply(key: key, value: value, origin: "\(configFile):\(number + 1)", readFile: readFile)
            }
        }
        // The environment is a layer above the file: secrets need not be on a command line.
        config.listKeysInLayer = []
        for (key, repeatable) in options.map({ ($0.key, $0.repeatable) }) + [("auth-secret-file", true), ("fleet-secret-file", false)] {
            guard let value = environment[environmentName(key)] else { continue }
            let values = repeatable ? value.split(separator: ",").map(String.init) : [value]
            for v in values { try config.apply(key: key, value: v, origin: environmentName(key), readFile: readFile) }
        }
        // Flags are a layer above the file: a list key given as a flag replaces the file's list.
        config.listKeysInLayer = []
        for p in pairs { try config.apply(key: p.key, value: p.value, origin: p.origin, readFile: readFile) }
        // Bookkeeping of the layers, not configuration: the same keys and values from any layer
        // make equal configurations.
        config.listKeysInLayer = []
        try config.validate()
        return checkOnly ? .check(config) : .run(config)
    }

    /// The environment variable of a key: `auth-secret` → `AV1RELAY_AUTH_SECRET`.
    public static func environmentName(_ key: String) -> String {
        "AV1RELAY_" + key.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    mutating func apply(key: String, value: String, origin: String, readFile: (String) throws -> String) throws(Invalid) {
        guard !key.isEmpty else { throw Invalid(key: origin, reason: "no key before the value (expected key = value)") }
        if key == "auth-secret-file" {
            // One secret per line ('#' comments), read now and again on every reload.
            let text: String
            do { text = try readFile(value) } catch {
                throw Invalid(key: key, reason: "cannot read \(value): \(error.localizedDescription)")
            }
            let secrets = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                !$0.isEmpty && !$0.hasPrefix("#")
            }
            guard !secrets.isEmpty else { throw Invalid(key: key, reason: "\(value) holds no secret") }
            for secret in secrets { try apply(key: "auth-secret", value: secret, origin: origin, readFile: readFile) }
            return
        }
        if key == "fleet-secret-file" {
            let text: String
            do { text = try readFile(value) } catch {
                throw Invalid(key: key, reason: "cannot read \(value): \(error.localizedDescription)")
            }
            guard
                let secret = text.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }).first(where: {
                    !$0.isEmpty && !$0.hasPrefix("#")
                })
            else { throw Invalid(key: key, reason: "\(value) holds no secret") }
            return try apply(key: "fleet-secret", value: secret, origin: origin, readFile: readFile)
        }
        guard let option = RelayConfiguration.options.first(where: { $0.key == key }) else {
            throw Invalid(key: key, reason: "unknown option (at \(origin)); see --help")
        }
        if option.repeatable, listKeysInLayer.insert(key).inserted { option.reset?(&self) }
        explicit.insert(key)
        try option.apply(&self, value)
    }

    public static func defaultReadFile(_ path: String) throws -> String {
        try String(contentsOfFile: path, encoding: .utf8)
    }

    /// The `--help` text, generated from the option table so it cannot drift from the code.
    public static var helpText: String {
        var lines = [
            "av1relay — STUN/TURN relay (RFC 8489, RFC 8656) for AV1 telepresence robots",
            "",
            "Usage: av1relay [--config FILE] [--KEY VALUE ...]",
            "",
            "Every option is also a config file key: one 'key = value' per line, '#' starts a comment;",
            "the environment (AV1RELAY_KEY, e.g. AV1RELAY_AUTH_SECRET; lists comma-separated) overrides the file,",
            "and flags override both. Options marked + may be repeated; a layer's values replace the lists below it.",
            "",
        ]
        let width = options.map { $0.key.count + $0.value.count + 4 }.max() ?? 0
        for o in options {
            let left = "--\(o.key) \(o.value)"
            lines.append("  " + left.padding(toLength: width, withPad: " ", startingAt: 0) + (o.repeatable ? "+ " : "  ") + o.help)
        }
        lines += [
            "  " + "--config FILE".padding(toLength: width, withPad: " ", startingAt: 0) + "  read options from FILE first",
            "  " + "--auth-secret-file FILE".padding(toLength: width, withPad: " ", startingAt: 0)
                + "+ REST secrets from FILE, one per line (re-read on SIGHUP)",
            "  " + "--fleet-secret-file FILE".padding(toLength: width, withPad: " ", startingAt: 0)
                + "  the fleet channel's secret from FILE (its first line)",
            "  " + "--check".padding(toLength: width, withPad: " ", startingAt: 0)
                + "  validate the configuration and TLS files, then exit",
            "  " + "--help".padding(toLength: width, withPad: " ", startingAt: 0) + "  this text",
            "  " + "--version".padding(toLength: width, withPad: " ", startingAt: 0) + "  the version",
            "",
            "Credentials: static users (--user) and TURN REST ephemeral credentials (--auth-secret):",
            "  username = \"<unix-expiry>:<identity>\", password = base64(HMAC-SHA1(secret, username)).",
            "Peers: loopback, private, CGNAT, link-local, unique-local, multicast, broadcast, reserved",
            "  ranges and the relay's own addresses are refused (403) in every encoding unless allowed.",
            "Transports: UDP, TCP and TLS (1.2, 1.3) to the relay; the relayed side is UDP. An allocation made over",
            "  TCP or TLS ends with its connection (a mobile one, RFC 8016, waits two minutes for its client).",
            "  'none' as the only value of a listen key turns it off.",
            "Signals: SIGTERM and SIGINT free every allocation, write the final session records and exit 0;",
            "  SIGHUP re-reads the configuration (file, environment, flags) and applies what may change live —",
            "  tls-cert/tls-key, auth-secret(-file), user, allow-peer, user-quota, total-quota, max-bps, fleet-member,",
            "  source-rate, source-burst, admin-token —",
            "  without dropping a call; it logs what changed, or refuses the whole reload and says why. SIGUSR1 drains:",
            "  no new calls, live ones go on until they end or drain-timeout passes, then exit 0.",
            "Subcommands: av1relay records export|delete --device ID [options] (a device's records, for data-subject",
            "  requests); av1relay admin-token NAME read|admin (a new admin API token and its configuration line).",
            "Exit codes: 0 after a clean shutdown, 1 when a socket cannot be opened, 2 for a bad option.",
        ]
        return lines.joined(separator: "\n")
    }
}
