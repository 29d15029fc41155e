import Foundation
import STUN
import TURN
import Testing

@testable import RelayConfig
@testable import RelayServer

@Suite("Configuration: flags, config file, validation")
struct ConfigurationTests {
    func run(_ args: [String], file: String? = nil) throws -> RelayConfiguration {
        let command = try RelayConfiguration.parse(arguments: args) { _ in
            guard let file else { throw TestError() }
            return file
        }
        guard case .run(let c) = command else { throw TestError() }
        return c
    }

    func failure(_ args: [String], file: String? = nil) -> RelayConfiguration.Invalid? {
        do {
            _ = try RelayConfiguration.parse(arguments: args) { _ in
                guard let file else { throw TestError() }
                return file
            }
            return nil
        } catch { return error }
    }

    struct TestError: Error {}

    @Test("admin-token NAME:SCOPE:SHA256[:DEVICES]: a device list limits the token; bad lists are refused by key")
    func adminTokensLimitedToDevices() throws {
        let hash = String(repeating: "ab", count: 32)
        let c = try run([
            "--admin-token", "ops:admin:\(hash)", "--admin-token", "acme:read:\(hash):acme-*,robot-7", "--audit-retention-days", "30",
        ])
        #expect(c.auditRetentionDays == 30)
        let ops = try #require(c.adminTokens.first), acme = try #require(c.adminTokens.last)
        #expect(ops.devices == nil && ops.allows(device: "anything"))
        #expect(acme.devices == ["acme-*", "robot-7"] && acme.scope == .read && acme.name == "acme")
        #expect(acme.allows(device: "acme-12") && acme.allows(device: "acme-") && acme.allows(device: "robot-7"))
        #expect(!acme.allows(device: "robot-70") && !acme.allows(device: "globex-1") && !acme.allows(device: "acm"))
        #expect(acme.description == "acme:read:acme-*,robot-7")
        for bad in [
            "acme:read:\(hash):", "acme:read:\(hash):a,,b", "acme:read:\(hash):a b", "acme:read:\(hash):*x", "acme:read:\(hash):a:b",
        ] {
            #expect(failure(["--admin-token", bad])?.key == "admin-token", "\(bad)")
        }
        // A token pasted where its hash belongs is refused without being repeated (found by FuzzConfig).
        let made0 = AdminToken.make(name: "tool", scope: .admin, devices: nil)
        for pasted in [made0.token, "tool:\(made0.token)", "tool:\(made0.token):\(hash)"] {
            let reason = try #require(failure(["--admin-token", pasted])?.reason)
            #expect(!reason.contains(made0.token) && !reason.contains(made0.token.prefix(12)), "\(reason)")
        }
        #expect(failure(["--audit-retention-days", "0"])?.key == "audit-retention-days")
        // A line or a flag with no key names where it is (found by FuzzConfig: it named nothing).
        #expect(failure(["--config", "x.conf"], file: "realm = r\n = 5\n")?.key == "x.conf:2")
        #expect(failure(["--=5"])?.key == "--")
        // A key that begins with a combining mark fails as the same unknown key from a file and as a flag.
        #expect(failure(["--config", "x.conf"], file: "\u{656}n-port = 1\n")?.key == "\u{656}n-port")
        #expect(failure(["--\u{656}n-port", "1"])?.key == "\u{656}n-port")
        // A made token's line parses back to the same limits.
        let made = AdminToken.make(name: "tool", scope: .admin, devices: ["school-*"])
        #expect(AdminToken(made.configuration)?.devices == ["school-*"])
        #expect(AdminToken(made.configuration)?.sha256 == AdminToken.hash(of: made.token))
    }

    @Test func defaultsAreSafeAndLoopback() throws {
        let c = try run([])
        #expect(c.listen == [TransportAddress("127.0.0.1:3478")!])
        #expect(c.relayAddresses == [.v4(0x7F00_0001)])
        #expect(c.allowPeers.isEmpty && c.users.isEmpty && c.authSecrets.isEmpty)
        #expect(c.channelRange == "rfc8656")
    }

    @Test func flagsInBothSpellingsAndRepeats() throws {
        let c = try run([
            "--listen", "127.0.0.1:5000", "--listen=[::1]:5000", "--user", "robot:7:c", "--user=d:e", "--pairing", "on", "--auth-secret",
            "s1",
            "--auth-secret", "s2", "--allow-peer", "10.0.0.0/8", "--relay-address", "::1", "--relay-address", "127.0.0.2",
            "--min-port", "50000", "--max-port", "50100", "--workers", "3", "--realm", "school",
        ])
        #expect(c.listen == [TransportAddress("127.0.0.1:5000")!, TransportAddress("[::1]:5000")!])
        #expect(c.users == ["robot:7": "c", "d": "e"])
        #expect(c.pairing)
        #expect(c.authSecrets == ["s1", "s2"])
        #expect(c.allowPeers == [CIDR("10.0.0.0/8")!])
        #expect(c.relayAddresses == [IPAddress("::1")!, IPAddress("127.0.0.2")!])
        #expect(c.minPort == 50000 && c.maxPort == 50100 && c.workers == 3 && c.realm == "school")
    }

    @Test func configFileThenFlagsOverride() throws {
        let file = """
            # AV1 relay
            realm = "hospital"
            listen = 127.0.0.1:4000
            user = robot:secret
            min-port = 40000

            max-port = 40010
            """
        let c = try run(["--config", "x.conf", "--min-port", "40005"], file: file)
        #expect(c.realm == "hospital" && c.listen == [TransportAddress("127.0.0.1:4000")!])
        #expect(c.users == ["robot": "secret"] && c.minPort == 40005 && c.maxPort == 40010)
    }

    @Test func aListFlagReplacesTheFilesList() throws {
        let file = """
            listen = 127.0.0.1:4000
            listen = 127.0.0.1:4001
            auth-secret = old
            user = robot:1:a
            allow-peer = 10.0.0.0/8
            relay-address = 127.0.0.2
            """
        let c = try run(
            ["--config", "x.conf", "--listen", "127.0.0.1:5000", "--auth-secret", "new", "--allow-peer", "192.168.0.0/16"], file: file)
        #expect(c.listen == [TransportAddress("127.0.0.1:5000")!])
        #expect(c.authSecrets == ["new"])
        #expect(c.allowPeers == [CIDR("192.168.0.0/16")!])
        // Keys the flags do not name keep the file's values.
        #expect(c.users == ["robot:1": "a"] && c.relayAddresses == [IPAddress("127.0.0.2")!])
        // Repeats within one layer add up.
        let twice = try run(["--config", "x.conf", "--listen", "127.0.0.1:5000", "--listen", "127.0.0.1:5001"], file: file)
        #expect(twice.listen == [TransportAddress("127.0.0.1:5000")!, TransportAddress("127.0.0.1:5001")!])
    }

    @Test func secretsFromTheEnvironmentAndFromFiles() throws {
        func parse(_ args: [String], _ env: [String: String]) throws -> RelayConfiguration {
            let files = ["c.conf": "auth-secret = from-file\nrealm = filed\n", "secrets": "# rotated daily\ns1\n\n  s2  \n"]
            guard
                case .run(let c) = try RelayConfiguration.parse(
                    arguments: args, environment: env,
                    readFile: { p in
                        guard let text = files[p] else { throw TestError() }
                        return text
                    })
            else { throw TestError() }
            return c
        }
        // The environment is above the file and below the flags.
        let env = try parse(["--config", "c.conf"], ["AV1RELAY_AUTH_SECRET": "e1,e2", "AV1RELAY_REALM": "env", "HOME": "/root"])
        #expect(env.authSecrets == ["e1", "e2"] && env.realm == "env")
        #expect(try parse(["--config", "c.conf", "--realm", "flag"], ["AV1RELAY_REALM": "env"]).realm == "flag")
        #expect(try parse(["--auth-secret-file", "secrets"], [:]).authSecrets == ["s1", "s2"])
        #expect(try parse([], ["AV1RELAY_AUTH_SECRET_FILE": "secrets"]).authSecrets == ["s1", "s2"])
        #expect(RelayConfiguration.environmentName("max-connections-per-address") == "AV1RELAY_MAX_CONNECTIONS_PER_ADDRESS")
        // Errors name the key.
        do {
            _ = try parse(["--auth-secret-file", "missing"], [:])
            Issue.record("a missing secret file was accepted")
        } catch let e as RelayConfiguration.Invalid { #expect(e.key == "auth-secret-file") }
        do {
            _ = try parse([], ["AV1RELAY_MIN_PORT": "lots"])
            Issue.record("a bad environment value was accepted")
        } catch let e as RelayConfiguration.Invalid { #expect(e.key == "min-port") }
    }

    @Test(arguments: [
        (["--min-port", "0x10"], "min-port"), (["--listen", "1.2.3.4:99999"], "listen"), (["--nope", "1"], "nope"),
        (["--user", ":x"], "user"), (["--auth-secret", ""], "auth-secret"), (["--relay-address", "a.b"], "relay-address"),
        (["--min-port", "2000", "--max-port", "1500"], "min-port"), (["--min-port", "80"], "min-port"),
        (["--default-lifetime", "4000", "--max-lifetime", "3600"], "default-lifetime"), (["--workers"], "workers"),
        (["--relay-address", "127.0.0.2", "--relay-address", "127.0.0.3"], "relay-address"), (["positional"], "positional"),
        (["--channel-range", "rfc1"], "channel-range"), (["--log-level", "chatty"], "log-level"), (["--pairing", "yes"], "pairing"),
        (["--user", "robot:"], "user"),
    ])
    func badInputNamesTheKey(args: [String], key: String) {
        let e = failure(args)
        #expect(e?.key == key, "\(args) → \(String(describing: e))")
    }

    @Test func transportsAndTLS() throws {
        let c = try run([
            "--listen", "none", "--tcp-listen", "127.0.0.1:443", "--tls-listen", "0.0.0.0:443", "--tls-listen", "[::]:5349",
            "--tls-cert", "c.pem", "--tls-key", "k.pem", "--idle-timeout", "30",
        ])
        #expect(c.listen.isEmpty && c.tcpListen == [TransportAddress("127.0.0.1:443")!])
        #expect(c.activeTLSListen == [TransportAddress("0.0.0.0:443")!, TransportAddress("[::]:5349")!])
        #expect(c.idleTimeout == 30)
        // Without a certificate the default TLS listener stays off; asking for one is an error.
        #expect(try run([]).activeTLSListen.isEmpty)
        #expect(failure(["--tls-listen", "127.0.0.1:5349"])?.key == "tls-listen")
        #expect(failure(["--tls-cert", "c.pem"])?.key == "tls-key")
        #expect(failure(["--tls-key", "k.pem"])?.key == "tls-cert")
        #expect(failure(["--listen", "none", "--tcp-listen", "none"])?.key == "listen")
        #expect(failure(["--stream-buffer", "10"])?.key == "stream-buffer")
    }

    @Test func fleetMembers() throws {
        let c = try run([
            "--fleet-self", "b", "--fleet-member", "a=10.0.0.1:3478", "--fleet-member",
            "b=10.0.0.2:3478,tls=10.0.0.2:443,domain=b.relay.example",
        ])
        #expect(c.fleet?.selfName == "b" && c.fleetMembers.count == 2)
        #expect(
            c.fleetMembers[1]
                == FleetMember(
                    name: "b", address: TransportAddress("10.0.0.2:3478")!,
                    tls: TransportAddress("10.0.0.2:443")!, tlsDomain: "b.relay.example"))
        #expect(failure(["--fleet-member", "a=10.0.0.1:3478"])?.key == "fleet-self")
        #expect(failure(["--fleet-self", "c", "--fleet-member", "a=10.0.0.1:3478"])?.key == "fleet-self")
        #expect(failure(["--fleet-self", "a", "--fleet-member", "a=10.0.0.1", "--fleet-member", "a=10.0.0.2"])?.key == "fleet-member")
        #expect(failure(["--fleet-self", "a", "--fleet-member", "a=relay.example:3478"])?.key == "fleet-member")
        #expect(failure(["--fleet-self", "a", "--fleet-member", "a=10.0.0.1:3478,color=red"])?.key == "fleet-member")
        #expect(failure(["--fleet-self", "a"])?.key == "fleet-member")
        #expect(try run([]).fleet == nil)
    }

    @Test func externalAddresses() throws {
        let c = try run(["--relay-address", "10.0.0.7", "--external-address", "203.0.113.7"])
        #expect(c.boundRelayAddresses == [IPAddress("10.0.0.7")!])
        #expect(c.advertisedRelayAddresses == [IPAddress("10.0.0.7")!: IPAddress("203.0.113.7")!])
        let mapped = try run(["--external-address", "203.0.113.7=10.0.0.8"])
        #expect(mapped.boundRelayAddresses == [IPAddress("10.0.0.8")!])
        #expect(failure(["--external-address", "203.0.113.7=::1"])?.key == "external-address")
        #expect(failure(["--external-address", "203.0.113.7", "--external-address", "203.0.113.8"])?.key == "external-address")
        #expect(failure(["--external-address", "2001:db8::1"])?.key == "external-address")  // no IPv6 relay-address
        #expect(failure(["--external-address", "nat.example"])?.key == "external-address")
    }

    @Test func badConfigLineNamesFileAndLine() {
        let e = failure(["--config", "relay.conf"], file: "realm = x\nthis is not a pair\n")
        #expect(e?.key == "relay.conf:2")
        #expect(failure(["--config", "relay.conf"], file: "max-port = lots\n")?.key == "max-port")
    }

    @Test func helpAndVersion() throws {
        #expect(try RelayConfiguration.parse(arguments: ["--min-port", "1", "--help"]) == .help)
        #expect(try RelayConfiguration.parse(arguments: ["--version"]) == .version)
        guard case .check(let c) = try RelayConfiguration.parse(arguments: ["--check", "--realm", "r"]) else {
            Issue.record("--check did not ask for a check")
            return
        }
        #expect(c.realm == "r")
        for o in RelayConfiguration.options { #expect(RelayConfiguration.helpText.contains("--\(o.key) ")) }
    }

    /// The configuration fuzzer's dictionary (Fuzz/FuzzConfig.dict) names every key, so that a
    /// new option is fuzzed as a key from the start.
    @Test func theFuzzDictionaryNamesEveryKey() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dict = try String(contentsOf: root.appendingPathComponent("Fuzz/FuzzConfig.dict"), encoding: .utf8)
        for o in RelayConfiguration.options { #expect(dict.contains("=\"\(o.key)\"\n"), "Fuzz/FuzzConfig.dict lacks \(o.key)") }
    }
}
