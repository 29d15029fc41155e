import AV1Endpoint
import ArgumentParser

/// `--signal classroom-wifi|weak-wifi|lte|mixed`.
extension SignalProfile: ExpressibleByArgument {}
