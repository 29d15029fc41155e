import Foundation
import Glibc
import RelayIO
import STUN
import Sockets

/// A blocking TCP client on loopback that sends STUN/ChannelData and reads whole frames back. The
/// receive timeout is generous: it only runs out when an answer is missing.
final class TCPTestSocket {
    let fd: Int32
    var framer = StreamFramer()
    var frames: [[UInt8]] = []

    init(connectTo server: TransportAddress, timeout: Double = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var storage = sockaddr_storage()
        let len = SocketAddress.write(server, into: &storage)
        let rc = withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, len) } }
        guard rc == 0 else {
            close(fd)
            throw TestError("connect \(server): errno \(errno)")
        }
    }

    deinit { close(fd) }

    var localAddress: TransportAddress? { SocketAddress.localAddress(fd) }

    func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// The next whole frame, nil on timeout or when the server closed the connection.
    func receive() -> [UInt8]? {
        while frames.isEmpty {
            var buffer = [UInt8](repeating: 0, count: 65536)
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return nil }
            do {
                try buffer.withUnsafeBytes { raw in
                    try framer.append(UnsafeRawBufferPointer(rebasing: raw[0..<n])) { frames.append(Array($0)) }
                }
            } catch { return nil }
        }
        return frames.removeFirst()
    }

    /// Whether the server closed the connection (recv returns 0) within the timeout.
    func closedByServer() -> Bool {
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, 0) == 0
    }

    func transact(_ request: [UInt8]) -> STUNMessage? {
        guard let tid = TransactionID(bytes: request[8..<20]) else { return nil }
        send(request)
        while let frame = receive() {
            if let m = try? STUNMessage(parsing: frame), m.transactionID == tid { return m }
        }
        return nil
    }
}
