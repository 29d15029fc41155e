import ArgumentParser

// av1sim: real robot and app endpoints (DTLS-SRTP, Opus, VP8) through a TURN relay.
// Exit 0 when media flowed and decoded as expected, 1 when it did not, 2 for bad arguments.
do {
    var command = try AV1Sim.parseAsRoot()
    try command.run()
} catch {
    // ArgumentParser's code for bad arguments is 64 (EX_USAGE); av1sim's has always been 2, and
    // scripts and tests tell a bad invocation from a failed call by it.
    if AV1Sim.exitCode(for: error) == .validationFailure {
        var standardError = StandardError()
        print(AV1Sim.fullMessage(for: error), to: &standardError)
        AV1Sim.exit(withError: ExitCode(2))
    }
    AV1Sim.exit(withError: error)
}
