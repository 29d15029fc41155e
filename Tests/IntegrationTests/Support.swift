import Foundation
import Glibc
import RelayIO
import STUN
import Sessions
import Sockets
import TestSupport

/// A blocking UDP socket on loopback with a receive timeout, for talking to a relay in tests. The
/// timeout is generous: it only runs out when an answer is missing, and a loaded machine is slow.
final class UDPTestSocket {
    let fd: Int32
    let address: TransportAddress

    init(_ bind: TransportAddress = TransportAddress(ip: .v4(0x7F00_0001), port: 0), timeout: Double = 10) throws {
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

/// Every line of a session log as a record (none if there is no file yet); throws at the first
/// line that is not a whole record, so that a torn or corrupt line fails the test that reads it.
func sessionLogRecords(_ path: String) throws -> [SessionRecord] {
    let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    return try text.split(separator: "\n").map { try JSONDecoder().decode(SessionRecord.self, from: Data($0.utf8)) }
}

/// A port no one listens on right now: the kernel's pick for port 0, so in the ephemeral range and
/// never in one of `RelayPortRanges`.
func freeUDPPort() throws -> UInt16 {
    try UDPTestSocket().address.port
}

/// Polls `condition` every 20 ms until it holds or `seconds` have passed; whether it held. For
/// waiting on something another thread or process does, with a deadline instead of a sleep.
func eventually(seconds: Double = 30, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while true {
        if condition() { return true }
        if Date() >= deadline { return false }
        usleep(20_000)
    }
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
final class Child {
    /// What the child wrote, read on a thread of its own until the pipe's end of file: only then
    /// is all of it in (Foundation's readability handler is not called at end of file on Linux).
    private final class Output: @unchecked Sendable {  // guarded by `lock`
        private let lock = NSLock()
        private var data = Data()
        private var ended = false

        func append(_ d: Data) { lock.withLock { data.append(d) } }
        func end() { lock.withLock { ended = true } }
        var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }
        var isComplete: Bool { lock.withLock { ended } }
    }

    let process = Process()
    private let output = Output()

    /// `environment`, when given, is the child's whole environment; `directory` its working
    /// directory (for tools that leave files where they run).
    init(_ path: String, _ arguments: [String], environment: [String: String]? = nil, directory: String? = nil) throws {
        let pipe = Pipe()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        // read(2), not FileHandle.read(upToCount:), which on a pipe waits for that many bytes.
        let reader = pipe.fileHandleForReading  // kept open by the thread until end of file
        let output = output
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { Glibc.read(reader.fileDescriptor, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                output.append(Data(buffer[0..<n]))
            }
            output.end()
        }
    }

    var text: String { output.text }

    var isRunning: Bool { process.isRunning }

    /// Waits for exit up to `seconds`; kills and returns nil if it does not. After the exit, waits
    /// (up to 10 s more, for a grandchild that still holds the pipe) until all output is in.
    func wait(seconds: Double) -> Int32? {
        guard eventually(seconds: seconds, { !process.isRunning }) else {
            stop()
            return nil
        }
        _ = eventually(seconds: 10) { output.isComplete }
        return process.terminationStatus
    }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Waits until `needle` shows in the output, up to `seconds`; false sooner if the child has
    /// exited and said all it will.
    func waitFor(_ needle: String, seconds: Double) -> Bool {
        var found = false
        _ = eventually(seconds: seconds) {
            let done = output.isComplete
            found = text.contains(needle)
            return found || done
        }
        return found
    }

    deinit { stop() }
}

/// Readiness probes for helper processes: ask until they answer, up to a deadline, instead of
/// sleeping and hoping they are up.
enum Ready {
    /// Whether a STUN server on 127.0.0.1:`port` answers a Binding request (over UDP) within
    /// `seconds`; gives up sooner if `child`, the server, exits.
    static func stunBinding(port: UInt16, seconds: Double = 30, child: Child? = nil) -> Bool {
        answers(port: port, seconds: seconds, child: child) { socket, server in
            var b = STUNMessageBuilder(method: .binding, class: .request, transactionID: .random())
            b.appendFingerprint()
            return socket.transact(b.bytes, to: server)?.messageClass == .successResponse
        }
    }

    /// Whether a UDP echo server on 127.0.0.1:`port` sends a datagram back within `seconds`;
    /// gives up sooner if `child`, the server, exits.
    static func udpEcho(port: UInt16, seconds: Double = 30, child: Child? = nil) -> Bool {
        let probe = Array("av1relay-tests-probe-\(UInt64.random(in: 0...UInt64.max))".utf8)
        return answers(port: port, seconds: seconds, child: child) { socket, server in
            socket.send(probe, to: server)
            while let (bytes, from) = socket.receive() {
                if from == server && bytes == probe { return true }
            }
            return false
        }
    }

    /// Asks with `ask` (which waits up to a quarter second for its answer) until it is answered.
    private static func answers(
        port: UInt16, seconds: Double, child: Child?, _ ask: (UDPTestSocket, TransportAddress) -> Bool
    ) -> Bool {
        guard let socket = try? UDPTestSocket(timeout: 0.25) else { return false }
        let server = TransportAddress(ip: .v4(0x7F00_0001), port: port)
        var answered = false
        _ = eventually(seconds: seconds) {
            answered = ask(socket, server)
            return answered || !(child?.isRunning ?? true)
        }
        return answered
    }
}

/// The pieces every interop test starts: av1relay, coturn's echo peer, coturn's client.
enum Interop {
    /// A state directory shared by the relays of this test run that name none.
    static func scratchStateDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "av1relay-tests-state-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// The av1relay binary with `arguments`, once it says it is serving.
    /// `fileLimit`: the relay's `ulimit -n` (soft and hard), set by a shell that then becomes it.
    static func relay(in namespace: NetworkNamespace? = nil, _ arguments: [String], fileLimit: Int? = nil) throws -> Child {
        // Session records go nowhere unless a test asks for them.
        let sessionLog = arguments.contains("--session-log") ? [] : ["--session-log", "none"]
        let sessionStore =
            arguments.contains("--session-store") || arguments.contains("--state-directory") ? [] : ["--session-store", "none"]
        // Several relays run at once on one host: the admin API only where a test asks for it.
        let admin = arguments.contains("--admin-listen") ? [] : ["--admin-listen", "none"]
        // What a relay keeps in its state directory (the audit trail without a store) stays out of
        // the repository: in the test run's own directory unless the test names one.
        let state = arguments.contains("--state-directory") ? [] : ["--state-directory", try scratchStateDirectory()]
        let all = arguments + ["--stats-interval", "0"] + sessionLog + sessionStore + admin + state
        var (path, args) = namespace?.command(Binaries.av1relay, all) ?? (Binaries.av1relay, all)
        if let fileLimit { (path, args) = ("/bin/sh", ["-c", "ulimit -n \(fileLimit) && exec \"$0\" \"$@\"", path] + args) }
        let relay = try Child(path, args)
        guard relay.waitFor("av1relay serving", seconds: 30) else {
            relay.stop()
            throw TestError("relay did not say it was serving within 30 s: \(relay.text)")
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

    /// `turnutils_peer` echoing UDP on 127.0.0.1:`port`, once it echoes.
    static func echoPeer(port: UInt16) throws -> Child {
        let peer = try Child(try Binaries.coturnTool("turnutils_peer"), ["-L", "127.0.0.1", "-p", "\(port)"])
        guard Ready.udpEcho(port: port, child: peer) else {
            peer.stop()
            throw TestError("turnutils_peer on 127.0.0.1:\(port) did not echo within 30 s: \(peer.text)")
        }
        return peer
    }

    /// `turnutils_peer` on a port of the kernel's choosing (tried again on another if that one
    /// was taken before the peer bound it), and that port.
    static func echoPeer() throws -> (Child, UInt16) {
        var failure: Error?
        for _ in 0..<3 {
            let port = try freeUDPPort()
            do { return (try echoPeer(port: port), port) } catch { failure = error }
        }
        throw failure ?? TestError("no turnutils_peer")
    }

    /// coturn's turnserver on UDP 127.0.0.1 only, with TURN REST `secret`, logging into `dir`,
    /// once it answers a Binding request; and its port. Its relay ports are `RelayPortRanges.coturnServer`.
    static func turnserver(secret: String, dir: String) throws -> (Child, UInt16) {
        var failure: Error?
        for _ in 0..<3 {
            let port = try freeUDPPort()
            let range = RelayPortRanges.coturnServer
            let coturn = try Child(
                try Binaries.coturnTool("turnserver"),
                [
                    "-n", "--listening-ip=127.0.0.1", "--listening-port=\(port)", "--relay-ip=127.0.0.1",
                    "--min-port=\(range.lowerBound)", "--max-port=\(range.upperBound)", "--use-auth-secret",
                    "--static-auth-secret=\(secret)", "--realm=coturn.test", "--allow-loopback-peers", "--no-tcp", "--no-tls",
                    "--no-dtls", "--no-cli", "--log-file=\(dir)/coturn.log", "--pidfile=\(dir)/coturn.pid",
                ])
            if Ready.stunBinding(port: port, child: coturn) { return (coturn, port) }
            coturn.stop()
            let log = (try? String(contentsOfFile: "\(dir)/coturn.log", encoding: .utf8)) ?? ""
            failure = TestError("turnserver on 127.0.0.1:\(port) did not answer a Binding within 30 s: \(coturn.text) \(log.suffix(2000))")
        }
        throw failure ?? TestError("no turnserver")
    }

    /// What av1sim must decode each way to exit 0 in these tests: half. A correct relay on a
    /// loaded machine can make the last frames late (the default, 95 %, is a figure for a quiet
    /// one); a broken one delivers none. The tests then check what they need of the report.
    static let av1simMinimumDelivered = ["--min-delivered", "0.5"]

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
