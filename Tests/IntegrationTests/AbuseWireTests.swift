import Foundation
import RelayServer
import STUN
import TURN
import TestSupport
import Testing

extension IntegrationSuites {
    /// Issue 13 on real sockets: a flood of 401-provoking requests from one address is mostly
    /// left unanswered, and counted.
    @Suite("Abuse bounds on the wire", .serialized)
    struct AbuseWireTests {
        @Test func aFloodOf401sFromOneAddressIsMostlyRefused() throws {
            // The defaults: 50 a second, bursts of 200.
            let server = try UDPRelayTests.server(ports: RelayPortRanges.udpBadInput)
            defer { server.stop() }
            let relay = try #require(server.listeningAddresses.first)
            let flooder = try UDPTestSocket(timeout: 1)
            let c = TestClient(username: "alice", password: "wonderland")
            let started = Date()
            for _ in 0..<5000 { flooder.send(c.allocate(), to: relay) }
            let sendSeconds = Date().timeIntervalSince(started)
            var answered = 0
            while flooder.receive() != nil { answered += 1 }
            // Sent within a second or so; a burst's worth and a few seconds' rate come back.
            let allowed = 200 + Int((sendSeconds + 1) * 50) + 50
            #expect(answered >= 150 && answered <= allowed, "\(answered) of 5000 answered in \(sendSeconds) s")
            let dropped = server.snapshot().stats[dropped: .rateLimited]
            #expect(dropped >= 5000 - allowed && dropped + answered <= 5000, "\(dropped) dropped")
            // Another address is served as usual meanwhile.
            let other = try UDPTestSocket(TransportAddress(ip: .v4(0x7F00_0003), port: 0))
            var alice = TestClient(username: "alice", password: "wonderland")
            let allocated = try UDPRelayTests.allocate(&alice, other, relay)
            #expect(allocated.messageClass == .successResponse)
        }
    }
}
