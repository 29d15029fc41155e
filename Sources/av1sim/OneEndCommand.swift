import AV1Endpoint
import ArgumentParser

/// `av1sim robot` and `av1sim app`: one end of a call, the other end in another process. The two
/// swap relayed addresses, ICE credentials and certificate fingerprints through files in the
/// `--exchange` directory.
protocol OneEndCommand: ParsableCommand {
    static var role: EndpointRole { get }
    var relay: RelayOptions { get }
    var device: String { get }
    var exchange: String { get }
    var call: CallOptions { get }
    var impairment: ImpairmentOptions { get }
    var report: ReportOptions { get }
}

extension OneEndCommand {
    /// Media flowed when the call set up, its DTLS peer was the one signalling named, frames
    /// from the other end decoded (the app judges video, the robot audio) and no plaintext was
    /// on the wire.
    func run() throws {
        let role = Self.role
        let progress = ProgressLine(showing: role.rawValue, duration: call.duration)
        let configuration = EndpointConfiguration(role, device: device, relay: relay, call: call, impairment: impairment)
        let result = Endpoint(configuration, exchange: FileExchange(directory: exchange)).run()
        progress.stop()
        let received = role == .app ? result.videoReceived : result.audioReceived
        let flowed =
            result.error == nil && result.dtlsCompleted && result.peerFingerprintVerified && (received?.framesDecoded ?? 0) > 0
            && !result.canaryVisibleOnWire
        print(
            "\(flowed ? "OK" : "FAILED") \(role.rawValue) \(relay.transport.rawValue): decoded \(received?.framesDecoded ?? 0) frames, loss \(received?.lossPercent ?? 0) %"
                + (result.error.map { " — \($0)" } ?? ""))
        report.emit(result)
        if !flowed { throw ExitCode.failure }
    }

    static var exchangeHelp: ArgumentHelp {
        ArgumentHelp("A directory both processes can read, where the two ends swap addresses and fingerprints.", valueName: "dir")
    }

    static var deviceHelp: ArgumentHelp {
        ArgumentHelp("The robot's device id, for --secret credentials.", valueName: "id")
    }
}
