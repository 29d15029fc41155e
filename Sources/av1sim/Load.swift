import AV1Endpoint
import ArgumentParser

/// `av1sim load`: many robot/app pairs at once, each judged as `pair` judges one.
struct Load: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run many robot/app pairs at once through the relay.",
        discussion: """
            Pair n uses device id <device>-n. Exit status: 0 when every pair passed as `av1sim pair` \
            would, 1 otherwise, 2 for bad arguments.
            """
    )

    @Option(help: ArgumentHelp("How many robot/app pairs at once.", valueName: "n"))
    var pairs = 10

    @OptionGroup(title: "Relay")
    var relay: RelayOptions

    @Option(parsing: .unconditional, help: ArgumentHelp("The prefix of the robots' device ids.", valueName: "id"))
    var device = "load-robot"

    @Option(help: ArgumentHelp(Pair.minDeliveredHelp, valueName: "fraction"))
    var minDelivered = 0.95

    @OptionGroup(title: "Call")
    var call: CallOptions

    @OptionGroup(title: "Send-side impairment")
    var impairment: ImpairmentOptions

    @OptionGroup(title: "Report")
    var report: ReportOptions

    func validate() throws {
        try (1...500).validate(pairs, flag: "pairs")
        try (0...1).validate(minDelivered, flag: "min-delivered")
    }

    func run() throws {
        let count = pairs
        let progress = ProgressLine(showing: "load", duration: call.duration)
        let waits = (0..<count).map {
            Pair.start(device: "\(device)-\($0)", relay: relay, call: call, impairment: impairment, minimumDelivered: minDelivered)
        }
        let results = waits.map { $0() }
        progress.stop()
        let ok = results.filter(\.ok).count
        let video = results.map(\.videoDelivered).sorted()
        let rtts = results.compactMap { $0.app.rttMillis.p50 }.sorted()
        print(
            "\(ok == count ? "OK" : "FAILED") load \(relay.transport.rawValue): \(ok)/\(count) pairs ok, video decoded min \(Int((video.first ?? 0) * 100)) % "
                + "median \(Int((video[video.count / 2]) * 100)) %, rtt p50 median \(rtts.isEmpty ? 0 : rtts[rtts.count / 2]) ms")
        report.emit(LoadReport(pairs: results, ok: ok))
        if ok != count { throw ExitCode.failure }
    }
}
