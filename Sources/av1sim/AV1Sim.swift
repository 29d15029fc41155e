import ArgumentParser

/// `av1sim`: the root command; the work is in its subcommands.
struct AV1Sim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "av1sim",
        abstract: "AV1 robot and app endpoints for tests, demos and load.",
        discussion: """
            The robot sends VP8 video and Opus audio, the app Opus audio. Both allocate on the TURN \
            relay, run ICE-style checks through it and DTLS 1.2 with SRTP end to end. Each run \
            prints a summary line, then a JSON report.

            Exit status: 0 when media flowed (ICE and DTLS completed, fingerprints verified, no \
            plaintext on the wire, enough frames decoded each way), 1 when it did not, 2 for bad \
            arguments.
            """,
        subcommands: [Pair.self, Robot.self, App.self, Load.self]
    )

    /// Without a subcommand there is nothing to run, and that is a bad invocation (exit 2), as it
    /// always was, rather than a request for help.
    func run() throws {
        throw ValidationError("expected pair, robot, app or load; see 'av1sim --help'")
    }
}
