import AV1Endpoint
import ArgumentParser

/// What each end does to its own media before it reaches the relay.
struct ImpairmentOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Drop this fraction of media packets at random (e.g. 0.05).", valueName: "fraction"))
    var loss = 0.0

    @Option(help: ArgumentHelp("Delay every media packet by this many milliseconds.", valueName: "ms"))
    var delay = 0.0

    @Option(help: ArgumentHelp("Add a random extra delay of up to this many milliseconds, keeping packets in order.", valueName: "ms"))
    var jitter = 0.0

    func validate() throws {
        try (0...1).validate(loss, flag: "loss")
        try (0...10_000).validate(delay, flag: "delay")
        try (0...10_000).validate(jitter, flag: "jitter")
    }

    var impairment: Impairment { Impairment(loss: loss, delayMillis: delay, jitterMillis: jitter) }
}
