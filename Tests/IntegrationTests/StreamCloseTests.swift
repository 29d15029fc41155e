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
    /// A stream connection closed while its frames are being handed to the engine must not be served
    /// any further (issue 8): the frames after the close used to reach the engine with the dead
    /// tuple and fd, and an Allocate among them made an allocation nothing would ever close.
    @Suite("Stream connections closed mid-read", .serialized)
    struct StreamCloseTests {
        /// A client that pipelines requests and never reads: the relay's answers pile up past
        /// `stream-buffer`, the relay cuts it off in the middle of a read, and nothing of it stays.
        @Test func aClientThatPipelinesAndNeverReadsLeavesNoAllocation() throws {
            let server = try TestRelay.start(ports: 32000...32099, udp: false) {
                $0.users = ["alice": "wonderland"]
                $0.workers = 1
                $0.streamBuffer = 4096  // below what `validate` allows: the overrun comes sooner
            }
            defer { server.stop() }
            let address = try #require(server.tcpAddresses.first)

            // Learn a nonce with one honest exchange, then stop reading for good.
            var client = TestClient(username: "alice", password: "wonderland")
            let fd = try Self.connect(to: address, receiveBuffer: 2048)
            defer { close(fd) }
            let challenge = try #require(Self.transact(fd, client.allocate()))
            let learned = client.learn(from: challenge)
            #expect(learned)

            // Chunks of 100 Binding requests (each answered) and one authenticated Allocate: the
            // first Allocate succeeds, the later ones get 437 while the connection lives; after the
            // cut-off, any that reached the engine would allocate afresh.
            var chunk: [UInt8] = []
            for _ in 0..<100 { chunk += STUNMessageBuilder(method: .binding, class: .request, transactionID: .random()).bytes }
            var sent = 0
            var refused = false
            for _ in 0..<3000 where !refused {
                let bytes = chunk + client.allocate()
                let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n < 0 { refused = true } else { sent += n }
            }
            #expect(refused, "the relay took \(sent) bytes of requests from a client that never reads and did not cut it off")
            #expect(server.snapshot().streamOverruns >= 1)
            // The connection is gone, and so is every allocation made over it.
            let deadline = Date().addingTimeInterval(10)
            while server.stats().allocations > 0 && Date() < deadline { usleep(20_000) }
            #expect(server.stats().allocations == 0)
            #expect(server.snapshot().connections == 0)
        }

        static func connect(to server: TransportAddress, receiveBuffer: Int32) throws -> Int32 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var size = receiveBuffer
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            var tv = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var storage = sockaddr_storage()
            let len = SocketAddress.write(server, into: &storage)
            let rc = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, len) } }
            guard rc == 0 else {
                close(fd)
                throw TestError("connect \(server): errno \(errno)")
            }
            return fd
        }

        /// One request and its answer (the only read this client ever does).
        static func transact(_ fd: Int32, _ request: [UInt8]) -> STUNMessage? {
            _ = request.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return nil }
            return try? STUNMessage(parsing: Array(buffer[0..<n]))
        }
    }
}
