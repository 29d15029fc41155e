import Foundation
import Glibc
import RelayIO
import STUN
import Sockets

/// A blocking UDP socket on loopback with a receive timeout, for talking to a relay in tests.
final class UDPTestSocket {
    let fd: Int32
    let address: TransportAddress

    init(_ bind: TransportAddress = TransportAddress(ip: .v4(0x7F00_0001), port: 0), timeout: Double = 2) throws {
        guard case .success(let fd) = SocketAddress.bindUDP(bind, reusePort: false) else { throw TestError("cannot bind \(bind)") }
        self.fd = fd
        self.address = SocketAddress.localAddress(fd)!
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8], to: TransportAddress) {
        var storage = sockaddr_storage()
        let len = SocketAddress.write(to, into: &storage)
        _ = withUnsafePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, sa, len) }
            }
        }
    }

    /// The next datagram and its sender, or nil after the timeout.
    func receive() -> (bytes: [UInt8], from: TransportAddress)? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let n = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                buffer.withUnsafeMutableBytes { recvfrom(fd, $0.baseAddress, $0.count, 0, sa, &len) }
            }
        }
        guard n >= 0, let from = SocketAddress.transportAddress(&storage) else { return nil }
        return (Array(buffer.prefix(n)), from)
    }

    /// Sends a request and waits for the response with its transaction id.
    func transact(_ request: [UInt8], to server: TransportAddress) -> STUNMessage? {
        guard let tid = TransactionID(bytes: request[8..<20]) else { return nil }
        send(request, to: server)
        while let (bytes, _) = receive() {
            if let m = try? STUNMessage(parsing: bytes), m.transactionID == tid { return m }
        }
        return nil
    }
}

struct TestError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A port no one listens on right now (the kernel's pick for port 0).
func freeUDPPort() throws -> UInt16 {
    try UDPTestSocket().address.port
}

/// Paths of the executables the tests run.
enum Binaries {
    /// `av1relay` as built beside the test bundle (override with AV1RELAY_BIN).
    static var av1relay: String {
        if let p = ProcessInfo.processInfo.environment["AV1RELAY_BIN"] { return p }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("av1relay").path
    }

    /// `av1sim` as built beside the test bundle.
    static var av1sim: String {
        URL(fileURLWithPath: av1relay).deletingLastPathComponent().appendingPathComponent("av1sim").path
    }

    /// A tool from Debian's coturn package; the suite fails (not skips) when it is missing:
    /// `make test` installs it.
    static func coturnTool(_ name: String) throws -> String {
        for dir in ["/usr/bin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        throw TestError("\(name) not found: install Debian's coturn package (make test does)")
    }
}

/// A child process with captured output, stopped by its PID at the end.
final class Child: @unchecked Sendable {  // output is guarded by `lock`
    let process = Process()
    let output = Pipe()
    private var collected = Data()
    private let lock = NSLock()

    init(_ path: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = output
        output.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard let self else { return }
            self.lock.withLock { self.collected.append(d) }
        }
        try process.run()
    }

    var text: String { lock.withLock { String(decoding: collected, as: UTF8.self) } }

    /// Waits for exit up to `seconds`; kills and returns nil if it does not.
    func wait(seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            stop()
            return nil
        }
        usleep(50_000)
        return process.terminationStatus
    }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        output.fileHandleForReading.readabilityHandler = nil
    }

    /// Waits until `needle` shows in the output.
    func waitFor(_ needle: String, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if text.contains(needle) { return true }
            usleep(20_000)
        }
        return false
    }

    deinit { stop() }
}

/// The pieces every interop test starts: av1relay, coturn's echo peer, coturn's client.
enum Interop {
    /// The av1relay binary with `arguments`, once it says it is serving.
    static func relay(_ arguments: [String]) throws -> Child {
        // Session records go nowhere unless a test asks for them.
        let sessionLog = arguments.contains("--session-log") ? [] : ["--session-log", "none"]
        let relay = try Child(Binaries.av1relay, arguments + ["--stats-interval", "0"] + sessionLog)
        guard relay.waitFor("av1relay serving", seconds: 10) else {
            relay.stop()
            throw TestError("relay did not start: \(relay.text)")
        }
        return relay
    }

    /// The ports a relay started with port 0 bound, from its "serving" line (`udp=127.0.0.1:4711`).
    static func ports(_ relay: Child, _ transport: String) -> [UInt16] {
        guard let line = relay.text.split(separator: "\n").first(where: { $0.contains("av1relay serving") }),
            let field = line.split(separator: " ").first(where: { $0.hasPrefix("\(transport)=") })
        else { return [] }
        return field.dropFirst(transport.count + 1).split(separator: ",").compactMap {
            $0.split(separator: ":").last.flatMap { UInt16($0) }
        }
    }

    /// The first port bound for `transport`; throws if there is none.
    static func port(_ relay: Child, _ transport: String) throws -> UInt16 {
        guard let p = ports(relay, transport).first else { throw TestError("no \(transport) port in: \(relay.text)") }
        return p
    }

    /// `turnutils_peer` echoing UDP on 127.0.0.1:`port`.
    static func echoPeer(port: UInt16) throws -> Child {
        let peer = try Child(try Binaries.coturnTool("turnutils_peer"), ["-L", "127.0.0.1", "-p", "\(port)"])
        usleep(300_000)
        return peer
    }

    /// `turnutils_uclient` with `arguments` (mode and credentials) sending `messages` 180-byte
    /// messages every 20 ms per session through 127.0.0.1:`port` to the echo peer.
    static func uclient(_ arguments: [String], port: UInt16, peerPort: UInt16, messages: Int, clients: Int) throws -> Child {
        try Child(
            try Binaries.coturnTool("turnutils_uclient"),
            arguments + [
                "-p", "\(port)", "-e", "127.0.0.1", "-r", "\(peerPort)", "-n", "\(messages)", "-m", "\(clients)", "-l", "180",
                "-z", "20", "127.0.0.1",
            ])
    }
}
