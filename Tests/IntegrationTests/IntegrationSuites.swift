import Testing

/// Every integration suite that starts a relay (in process or as the binary), coturn, or
/// av1sim's real-time media is nested here, so that their tests run one at a time (issue 8).
///
/// Swift Testing runs separate suites in parallel even when each is `.serialized`; a
/// `.serialized` parent applies to everything nested in it, across files. On a two-core machine
/// a media call beside coturn beside two more relays measured the machine, not the relay.
/// A new suite of that kind joins with `extension IntegrationSuites { @Suite(…) struct X { … } }`.
/// The unit-test targets (codec, engine, sessions, media, configuration, RelayIO's parts) stay
/// parallel beside this group: they run on explicit instants and assert no timing.
@Suite("Integration: one test at a time", .serialized)
enum IntegrationSuites {}

// The suites' top-level names before they were nested, so that code in a new file that
// says `AV1SimTests` or `extension StreamInteropTests` still compiles (and joins the group).
typealias AV1SimTests = IntegrationSuites.AV1SimTests
typealias CoturnInteropTests = IntegrationSuites.CoturnInteropTests
typealias ExecutableTests = IntegrationSuites.ExecutableTests
typealias PairingWireTests = IntegrationSuites.PairingWireTests
typealias SessionRecordTests = IntegrationSuites.SessionRecordTests
typealias StreamRelayTests = IntegrationSuites.StreamRelayTests
typealias StreamInteropTests = IntegrationSuites.StreamInteropTests
typealias UDPRelayTests = IntegrationSuites.UDPRelayTests
