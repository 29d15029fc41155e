import Foundation
import Glibc
import Logging
import RelayIO
import RelayServer
import STUN
import Sockets
import TURN
import TestSupport
import Testing

extension IntegrationSuites {
    /// The workers' ticks and stream timeouts read a clock the test drives (issue 8): no sleeping
    /// for a timeout to pass.
    @Suite("Workers on a manual clock", .serialized)
    struct WorkerClockTests {
        static func server(_ clock: ManualClock, _ configure: (inout RelayConfiguration) -> Void = { _ in }) throws -> RelayServer {
            try TestRelay.start(ports: 32500...32599, clock: .manual(clock)) {
                $0.users = ["alice": "wonderland"]
                $0.workers = 1
                configure(&$0)
            }
        }

        @Test func aSilentConnectionTimesOutWhenTheClockSaysSo() throws {
            let clock = ManualClock()
            let server = try Self.server(clock) { $0.handshakeTimeout = 10 }
            defer { server.stop() }
            let silent = try TCPTestSocket(connectTo: try #require(server.tcpAddresses.first), timeout: 2)
            // Accepted, on the worker's own time.
            let accepted = Date().addingTimeInterval(10)
            while server.snapshot().connections == 0 && Date() < accepted { usleep(10_000) }
            #expect(server.snapshot().connections == 1)
            clock.advance(seconds: 9)
            server.workers.forEach { $0.tickNow() }
            #expect(server.snapshot().connections == 1)  // 9 s: within the handshake timeout
            clock.advance(seconds: 2)
            server.workers.forEach { $0.tickNow() }
            #expect(server.snapshot().streamTimeouts == 1 && server.snapshot().connections == 0)
            #expect(silent.closedByServer())
        }

        @Test func anAllocationExpiresAtItsLifetimeOnTheWorkersClock() throws {
            let clock = ManualClock()
            let server = try Self.server(clock)
            defer { server.stop() }
            let udp = try UDPTestSocket()
            let relay = try #require(server.udpAddresses.first)
            var client = TestClient(username: "alice", password: "wonderland")
            func transact(_ bytes: [UInt8]) -> STUNMessage? {
                udp.send(bytes, to: relay)
                return udp.receive().flatMap { try? STUNMessage(parsing: $0.bytes) }
            }
            let challenge = try #require(transact(client.allocate()))
            let learned = client.learn(from: challenge)
            #expect(learned)
            #expect(transact(client.allocate())?.messageClass == .successResponse)
            #expect(server.stats().allocations == 1)
            clock.advance(seconds: 599)
            server.workers.forEach { $0.tickNow() }
            #expect(server.stats().allocations == 1)
            clock.advance(seconds: 1)
            server.workers.forEach { $0.tickNow() }
            #expect(server.stats().allocations == 0)  // RFC 8656 §7: 600 s by default
        }
    }
}
