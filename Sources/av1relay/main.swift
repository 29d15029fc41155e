import AdminAPI
import CAV1Shim
import Foundation
import Logging
import RelayIO
import RelayServer
import STUN
import ServiceLifecycle
import SessionStore
import Sessions

// av1relay: parse, validate, serve until SIGTERM/SIGINT under a ServiceGroup. Exit 2 for a bad
// option, 1 when a socket cannot be opened, 0 after a clean shutdown.

let arguments = Array(CommandLine.arguments.dropFirst())
let environment = ProcessInfo.processInfo.environment

func fail(_ message: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data("av1relay: \(message)\n".utf8))
    exit(code)
}

// `av1relay records export|delete|usage|audit …`: data-subject requests against the store, the
// session log and the spool, usage and the audit trail, with the relay running or not.
if arguments.first == "records" {
    exit(RecordsCommand.run(Array(arguments.dropFirst()), environment: environment))
}
// `av1relay admin-token NAME read|admin [DEVICES]`: a new random bearer token and the
// configuration line that holds its hash (DEVICES, comma-separated ids or PREFIX*, limits it).
if arguments.first == "admin-token" {
    let usage = "usage: av1relay admin-token NAME read|admin [DEVICE,PREFIX*,...]"
    guard arguments.count == 3 || arguments.count == 4, let scope = AdminToken.Scope(rawValue: arguments[2]), !arguments[1].isEmpty,
        !arguments[1].contains(":")
    else {
        fail(usage, code: 2)
    }
    let devices = arguments.count == 4 ? arguments[3].split(separator: ",", omittingEmptySubsequences: false).map(String.init) : nil
    let made = AdminToken.make(name: arguments[1], scope: scope, devices: devices)
    guard AdminToken(made.configuration) != nil else {
        fail("admin-token: '\(arguments[3])' is not a list of device ids and PREFIX*; \(usage)", code: 2)
    }
    print("token: \(made.token)")
    print("admin-token = \(made.configuration)")
    exit(0)
}

let command: RelayConfiguration.Command
do {
    command = try RelayConfiguration.parse(arguments: arguments, environment: environment)
} catch {
    fail("\(error)", code: 2)
}

let configuration: RelayConfiguration
var checkOnly = false
switch command {
case .help:
    print(RelayConfiguration.helpText)
    exit(0)
case .version:
    print("av1relay \(RelayVersion.current)")
    exit(0)
case .run(let c):
    configuration = c
case .check(let c):
    configuration = c
    checkOnly = true
}

// Media must never reach disk, not even in a core dump.
_ = av1_disable_core_dumps()

let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = level
    return handler
}
let logger = Logger(label: "av1relay")

let tls: TLSContext?
do {
    tls = try RelayServer.loadTLS(configuration)
} catch {
    fail("invalid tls-cert: \(error)", code: 2)
}
let sinks: [any SessionSink]
do {
    sinks = try RelayServer.openSinks(configuration, logger: logger)
} catch {
    fail("invalid session-log or session-store: \(error)", code: 2)
}
if checkOnly {
    print("av1relay: configuration OK")
    exit(0)
}

let server: RelayServer
do {
    server = try RelayServer(configuration: configuration, tls: tls, sinks: sinks, logger: logger)
} catch {
    logger.critical("cannot start: \(error)")
    exit(1)
}

let relay = RelayService(server: server, logger: logger) {
    switch try RelayConfiguration.parse(arguments: arguments, environment: ProcessInfo.processInfo.environment) {
    case .run(let c), .check(let c): return c
    case .help, .version: return configuration
    }
}
var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
    .init(service: relay, successTerminationBehavior: .gracefullyShutdownGroup)
]
if let admin = configuration.adminListen {
    if configuration.adminTokens.isEmpty {
        logger.warning("admin API without admin-token: only /healthz, /readyz and /openapi.json answer; every other route is 401")
    }
    do {
        let tls = try configuration.adminTLSCertificate.map { certificate in
            try AdminAPI.tlsConfiguration(certificate: certificate, key: configuration.adminTLSKey ?? "")
        }
        let scheme = tls == nil ? "http" : "https"
        let api = try AdminAPI.application(relay: relay, address: admin, tls: tls, logger: logger) { port in
            logger.info(
                "admin API serving", metadata: ["port": "\(port)", "scheme": "\(scheme)", "tokens": "\(configuration.adminTokens.count)"])
        }
        services.append(.init(service: api))
    } catch {
        logger.critical("cannot start: \(error)")
        exit(1)
    }
}
let group = ServiceGroup(
    configuration: .init(
        services: services,
        gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger))
do {
    try await group.run()
} catch {
    logger.critical("stopped: \(error)")
    exit(1)
}
exit(0)
