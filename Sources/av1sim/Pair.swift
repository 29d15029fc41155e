import AV1Endpoint
import ArgumentParser
import Foundation

/// `av1sim pair`: a robot and its app in one process, each on a thread of its own.
struct Pair: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a robot and its app in one process, calling each other through the relay.",
        discussion: """
            Exit status: 0 when ICE and DTLS completed, fingerprints verified, no plaintext was \
            on the wire and at least --min-delivered of the frames sent each way decoded; 1 \
            otherwise; 2 for bad arguments.
            """
    )

    @OptionGroup(title: "Relay")
    var relay: RelayOptions

    @Option(parsing: .unconditional, help: ArgumentHelp("The robot's device id, for --secret credentials.", valueName: "id"))
    var device = "demo-robot"

    @Option(help: ArgumentHelp(Pair.minDeliveredHelp, valueName: "fraction"))
    var minDelivered = 0.95

    @OptionGroup(title: "Call")
    var call: CallOptions

    @OptionGroup(title: "Send-side impairment")
    var impairment: ImpairmentOptions

    @OptionGroup(title: "Report")
    var report: ReportOptions

    /// Shared with `load`, which judges each of its pairs the same way.
    static let minDeliveredHelp = """
        Frames that must decode each way for exit 0. With --loss, of the frames that arrived whole, \
        and for video lowered by twice the loss.
        """

    func validate() throws {
        try (0...1).validate(minDelivered, flag: "min-delivered")
    }

    func run() throws {
        let progress = ProgressLine(showing: "pair", duration: call.duration)
        let pair = Self.start(device: device, relay: relay, call: call, impairment: impairment, minimumDelivered: minDelivered)()
        progress.stop()
        print(pair.summary)
        report.emit(pair)
        if !pair.ok { throw ExitCode.failure }
    }

    /// Starts a robot and an app on threads of their own; the function returned waits for both
    /// and judges the call.
    static func start(device: String, relay: RelayOptions, call: CallOptions, impairment: ImpairmentOptions, minimumDelivered: Double)
        -> () -> PairReport
    {
        let exchange = MemoryExchange()
        let robotConfiguration = EndpointConfiguration(.robot, device: device, relay: relay, call: call, impairment: impairment)
        let appConfiguration = EndpointConfiguration(.app, device: device, relay: relay, call: call, impairment: impairment)
        let boxes = (ReportBox(), ReportBox())
        for (box, c) in [(boxes.0, robotConfiguration), (boxes.1, appConfiguration)] {
            let thread = Thread { box.set(Endpoint(c, exchange: exchange).run()) }
            thread.stackSize = 8 << 20
            thread.start()
        }
        let loss = impairment.loss
        return { PairReport(robot: boxes.0.wait(), app: boxes.1.wait(), minimumDelivered: minimumDelivered, loss: loss) }
    }
}
