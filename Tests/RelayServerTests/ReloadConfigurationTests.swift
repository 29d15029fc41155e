import Logging
import STUN
import TURN
import Testing

@testable import RelayConfig
@testable import RelayIO
@testable import RelayServer

/// What a reload may change live, and that it refuses the rest whole (issue 8).
@Suite("Reloading the configuration")
struct ReloadConfigurationTests {
    static func server() throws -> RelayServer {
        var c = RelayConfiguration()
        c.listen = [TransportAddress("127.0.0.1:0")!]
        c.tcpListen = []
        c.minPort = 32400
        c.maxPort = 32499
        c.workers = 2
        c.statsInterval = 0
        c.sessionLog = nil
        c.authSecrets = ["a"]
        c.users = ["robot:1": "x"]
        return try RelayServer(configuration: c, logger: Logger(label: "t") { _ in SwiftLogNoOpLogHandler() })
    }

    @Test func liveKeysApplyAndAreReportedWithoutSecrets() throws {
        let server = try Self.server()
        server.start()
        defer { server.stop() }
        var new = server.configuration
        new.authSecrets = ["a", "b"]
        new.users = [:]
        new.allowPeers = [CIDR("10.0.0.0/8")!]
        new.userQuota = 3
        new.totalQuota = 9
        new.maxBps = 64_000
        let outcome = server.reload(to: new)
        #expect(outcome.refused == nil)
        #expect(Set(outcome.changed.keys) == ["auth-secret", "user", "allow-peer", "user-quota", "total-quota", "max-bps"])
        #expect(server.workers.allSatisfy { w in w.sync { w.engine.configuration.maxBytesPerSecond } == 64_000 })
        #expect(outcome.changed["auth-secret"] == "1 → 2 secrets, 1 kept")
        // No secret ("a", "b") and no password ("x") as a word of the report ("max-bps" holds an x).
        let words = outcome.description.split { !$0.isLetter && !$0.isNumber && $0 != "-" }.map(String.init)
        #expect(!outcome.description.contains("\"a\"") && !words.contains("x") && !words.contains("a"), "\(outcome.description)")
        #expect(server.configuration.authSecrets == ["a", "b"])
        #expect(server.quota.maxPerUser == 3 && server.quota.maxTotal == 9)
        #expect(server.reload(to: new).changed.isEmpty)
    }

    @Test(arguments: ["listen", "min-port", "pairing", "realm"])
    func keysThatNeedARestartRefuseTheWholeReload(key: String) throws {
        let server = try Self.server()
        var new = server.configuration
        new.authSecrets = ["rotated"]
        switch key {
        case "listen": new.listen = [TransportAddress("127.0.0.1:1")!]
        case "min-port": new.minPort = 32401
        case "pairing": new.pairing = true
        default: new.realm = "other"
        }
        let outcome = server.reload(to: new)
        #expect(outcome.refused == "\(key) cannot change without a restart")
        #expect(server.configuration.authSecrets == ["a"])  // nothing applied
    }

    @Test func anInvalidConfigurationOrTLSFileIsRefused() throws {
        let server = try Self.server()
        var new = server.configuration
        new.minPort = 80
        #expect(server.reload(to: new).refused?.contains("min-port") == true)
        var tls = server.configuration
        tls.tlsCertificate = "/nonexistent.pem"
        tls.tlsKey = "/nonexistent.key"
        #expect(server.reload(to: tls).refused?.contains("TLS") == true)
    }

    @Test func everyStoredPropertyHasAnOptionKey() {
        let keys = Set(RelayConfiguration.options.map(\.key))
        for child in Mirror(reflecting: RelayConfiguration()).children {
            guard let label = child.label else { continue }
            if let key = RelayConfiguration.key(ofProperty: label) { #expect(keys.contains(key), "\(label) → \(key)") }
        }
    }
}
