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

    /// Parses `--key VALUE` / `--key=VALUE` flags; `--config FILE` is read first, flags override
    /// it. Errors name the key or line and the reason.
    public static func parse(arguments: [String], readFile: (String) throws -> String = defaultReadFile) throws(Invalid) -> Command {
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
            guard arg.hasPrefix("--") else { throw Invalid(key: arg, reason: "unexpected argument (flags start with --)") }
            var key = String(arg.dropFirst(2))
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
                try config.apply(key: key, value: value, origin: "\(configFile):\(number + 1)")
            }
        }
        for p in pairs { try config.apply(key: p.key, value: p.value, origin: p.origin) }
        try config.validate()
        return checkOnly ? .check(config) : .run(config)
    }

    mutating func apply(key: String, value: String, origin: String) throws(Invalid) {
        guard let option = RelayConfiguration.options.first(where: { $0.key == key }) else {
            throw Invalid(key: key, reason: "unknown option (at \(origin)); see --help")
        }
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
            "flags override the file. Options marked + may be repeated.",
            "",
        ]
        let width = options.map { $0.key.count + $0.value.count + 4 }.max() ?? 0
        for o in options {
            let left = "--\(o.key) \(o.value)"
            lines.append("  " + left.padding(toLength: width, withPad: " ", startingAt: 0) + (o.repeatable ? "+ " : "  ") + o.help)
        }
        lines += [
            "  " + "--config FILE".padding(toLength: width, withPad: " ", startingAt: 0) + "  read options from FILE first",
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
            "  TCP or TLS ends with its connection. 'none' as the only value of a listen key turns it off.",
            "Signals: SIGTERM and SIGINT free every allocation and exit 0; SIGHUP reloads tls-cert and tls-key",
            "  without dropping live connections.",
            "Exit codes: 0 after a clean shutdown, 1 when a socket cannot be opened, 2 for a bad option.",
        ]
        return lines.joined(separator: "\n")
    }
}
