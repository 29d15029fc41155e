import AV1Endpoint
import ArgumentParser

/// `--transport udp|tcp|tls`.
extension RelayTransport: ExpressibleByArgument {}
