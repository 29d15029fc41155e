import AV1Endpoint
import ArgumentParser

/// `av1sim robot`: the robot end alone.
struct Robot: OneEndCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the robot end alone: VP8 video and Opus audio to an app in another process.",
        discussion: """
            Start `av1sim app` with the same --exchange directory. Exit status: 0 when DTLS completed \
            with the certificate signalling named, the app's audio decoded and no plaintext was on \
            the wire; 1 otherwise; 2 for bad arguments.
            """
    )
    static let role = EndpointRole.robot

    @OptionGroup(title: "Relay")
    var relay: RelayOptions

    @Option(parsing: .unconditional, help: Self.deviceHelp)
    var device = "demo-robot"

    @Option(parsing: .unconditional, help: Self.exchangeHelp)
    var exchange: String

    @OptionGroup(title: "Call")
    var call: CallOptions

    @OptionGroup(title: "Send-side impairment")
    var impairment: ImpairmentOptions

    @OptionGroup(title: "Report")
    var report: ReportOptions
}
