import RelayServer
import STUN
import TURN
import Testing

extension IntegrationSuites {
    /// What the receive slots cannot hold is counted, not lost silently (issue 8).
    @Suite("Datagrams over the receive slot")
    struct DatagramLimitTests {
        @Test func aDatagramOver4096BytesIsCountedWithTheDrops() throws {
            let server = try TestRelay.start(ports: 32100...32199, tcp: false) { $0.workers = 1 }
            defer { server.stop() }
            let relay = try #require(server.udpAddresses.first)
            let client = try UDPTestSocket()
            client.send([UInt8](repeating: 0x40, count: 5000), to: relay)
            // A Binding answered afterwards shows the big one was read first (one socket, in order).
            client.send(STUNMessageBuilder(method: .binding, class: .request, transactionID: .random()).bytes, to: relay)
            #expect(client.receive() != nil)
            let s = server.stats().stats
            #expect(s.tooBig == 1 && s.dropped == 1)
        }
    }
}
