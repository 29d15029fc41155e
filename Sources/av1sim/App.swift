import AV1Endpoint
import ArgumentParser

/// `av1sim app`: the app end alone.
struct App: OneEndCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the app end alone: Opus audio to a robot in another process, its video and audio back.",
        discussion: """
            Start `av1sim robot` with the same --exchange directory. Exit status: 0 when DTLS completed \
            with the certificate signalling named, the robot's video decoded and no plaintext was on \
            the wire; 1 otherwise; 2 for bad arguments.
            """
    )
    static let role = EndpointRole.app

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
