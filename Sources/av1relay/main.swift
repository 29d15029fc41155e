import CAV1Shim
import Dispatch
import Foundation
import Logging
import RelayIO
import RelayServer
import Sessions

// av1relay: parse, validate, serve until SIGTERM/SIGINT. Exit 2 for a bad option, 1 when a
// socket cannot be opened, 0 after a clean shutdown.

let command: RelayConfiguration.Command
do {
    command = try RelayConfiguration.parse(arguments: Array(CommandLine.arguments.dropFirst()))
} catch {
    FileHandle.standardError.write(Data("av1relay: \(error)\n".utf8))
    exit(2)
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
    FileHandle.standardError.write(Data("av1relay: invalid tls-cert: \(error)\n".utf8))
    exit(2)
}
let sinks: [any SessionSink]
do {
    sinks = try RelayServer.openSinks(configuration)
} catch {
    FileHandle.standardError.write(Data("av1relay: invalid session-log: \(error)\n".utf8))
    exit(2)
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
server.start()

signal(SIGTERM, SIG_IGN)
signal(SIGINT, SIG_IGN)
signal(SIGHUP, SIG_IGN)
// Top-level code is main-actor code: the handlers run on the main queue, which dispatchMain() serves.
var signalSources: [DispatchSourceSignal] = []
for sig in [SIGTERM, SIGINT] {
    let source = DispatchSource.makeSignalSource(signal: sig, queue: .main)
    source.setEventHandler {
        logger.info("shutting down", metadata: ["signal": "\(sig)"])
        server.stop()
        exit(0)
    }
    source.resume()
    signalSources.append(source)
}
// SIGHUP reloads the TLS certificate and key without dropping live connections.
let reload = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .main)
reload.setEventHandler { server.reloadTLS() }
reload.resume()
signalSources.append(reload)
dispatchMain()
