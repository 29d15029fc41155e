import Foundation
import Glibc
import Synchronization

/// A real PostgreSQL server for the store tests (Debian's `postgresql`): its own data directory
/// in the temporary directory, listening on 127.0.0.1 only, on a port of
/// `RelayPortRanges.postgresServers`; trust authentication for its one user. Run as root, it runs
/// as the `postgres` user (PostgreSQL refuses root). Stopped by `stop()` or, at the latest, when
/// the test process exits.
///
/// `shared` is one server for every test that only needs a database (`makeDatabase()` gives each
/// its own); a test that stops and starts a server makes its own.
public final class PostgresServer: Sendable {
    public let directory: String
    public let port: UInt16
    public let user = "av1relay"
    let bin: String

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// The one server most tests share, started on first use.
    public static let shared = Result<PostgresServer, any Error> { try PostgresServer() }

    static let running = Mutex<Set<String>>([])

    /// Initialises a cluster and starts it.
    public init() throws {
        guard let bin = Self.binDirectory() else {
            throw Failure("no PostgreSQL server (/usr/lib/postgresql/*/bin/postgres): `make deps-test` installs Debian's postgresql")
        }
        self.bin = bin
        directory = NSTemporaryDirectory() + "av1relay-pg-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if getuid() == 0 {
            guard let pw = getpwnam("postgres") else { throw Failure("running as root, but there is no postgres user to run PostgreSQL") }
            chown(directory, pw.pointee.pw_uid, pw.pointee.pw_gid)
        }
        try Self.run(
            bin + "/initdb",
            ["-D", directory + "/data", "-U", user, "--auth=trust", "--encoding=UTF8", "--no-sync", "--no-instructions"])
        // A port of the range that nobody holds now; the server is started once on it (a start
        // that fails is not retried on another port: the cluster may be half up).
        guard let free = RelayPortRanges.freeTCPPort(in: RelayPortRanges.postgresServers) else {
            throw Failure("no free port in \(RelayPortRanges.postgresServers) for PostgreSQL")
        }
        do {
            try Self.start(bin: bin, directory: directory, port: free)
        } catch {
            throw Failure(
                "PostgreSQL did not start on port \(free): \(error)\n\((try? String(contentsOfFile: directory + "/log", encoding: .utf8)) ?? "")"
            )
        }
        let started = free
        port = started
        Self.running.withLock { _ = $0.insert(directory) }
        Self.stopAtExit
    }

    /// The server's log, for failure messages.
    public var log: String { (try? String(contentsOfFile: directory + "/log", encoding: .utf8)) ?? "" }

    /// A URL of a new, empty database of this server.
    public func makeDatabase(_ name: String = PostgresServer.databaseName()) throws -> String {
        try Self.run(bin + "/createdb", ["-h", "127.0.0.1", "-p", "\(port)", "-U", user, name])
        return url(name)
    }

    public static func databaseName() -> String { "t" + UUID().uuidString.prefix(12).lowercased() }

    /// Runs SQL in `database` (as a later relay or an operator would), failing on any error.
    public func sql(_ database: String, _ statement: String) throws {
        try Self.run(
            bin + "/psql", ["-h", "127.0.0.1", "-p", "\(port)", "-U", user, "-d", database, "-v", "ON_ERROR_STOP=1", "-q", "-c", statement])
    }

    public func url(_ database: String) -> String { "postgres://\(user)@127.0.0.1:\(port)/\(database)?sslmode=disable&timeout=3" }

    /// Stops the server (fast shutdown: connections are cut); `start()` brings it back on its port.
    public func stop() throws {
        try Self.run(bin + "/pg_ctl", ["-D", directory + "/data", "-m", "fast", "-w", "stop"])
    }

    public func start() throws { try Self.start(bin: bin, directory: directory, port: port) }

    static func start(bin: String, directory: String, port: UInt16) throws {
        let options = "-p \(port) -c listen_addresses=127.0.0.1 -k \(directory) -c fsync=off -c max_connections=200"
        try run(bin + "/pg_ctl", ["-D", directory + "/data", "-l", directory + "/log", "-o", options, "-w", "-t", "60", "start"])
    }

    /// Stops the server and removes its directory.
    public func remove() {
        try? stop()
        Self.running.withLock { _ = $0.remove(directory) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Whatever is still running when the process exits is stopped (immediate shutdown).
    static let stopAtExit: Void = {
        atexit {
            guard let bin = PostgresServer.binDirectory() else { return }
            for directory in PostgresServer.running.withLock({ $0 }) {
                try? PostgresServer.run(bin + "/pg_ctl", ["-D", directory + "/data", "-m", "immediate", "-w", "stop"])
                try? FileManager.default.removeItem(atPath: directory)
            }
        }
    }()

    static func binDirectory() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        return versions.reversed().map { "\(root)/\($0)/bin" }.first { FileManager.default.isExecutableFile(atPath: $0 + "/postgres") }
    }

    /// Runs a PostgreSQL program (as the postgres user when root) and waits, at most 120 s.
    ///
    /// posix_spawn and waitpid rather than Foundation's Process: Process learns of an exit when a
    /// socket its child inherits is closed, and `pg_ctl start` leaves the server it starts holding
    /// that socket, so the exit of pg_ctl would not be seen until the server stops.
    static func run(_ program: String, _ arguments: [String]) throws {
        let argv = (getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--", program] : [program]) + arguments
        let outputPath = NSTemporaryDirectory() + "av1relay-pg-out-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // No signal the test's thread blocks stays blocked in the child.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let cArguments = argv.map { strdup($0) } + [nil]
        defer { for argument in cArguments { free(argument) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, argv[0], &actions, &attributes, cArguments, environ)
        guard spawned == 0 else { throw Failure("\(argv[0]) did not start: \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(120)
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { break }
            if reaped < 0 && errno != EINTR { throw Failure("waitpid for \(program): \(String(cString: strerror(errno)))") }
            if Date() > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw Failure("\(program) did not finish in 120 s")
            }
            usleep(10_000)
        }
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        // WIFEXITED and WEXITSTATUS, which Swift does not import.
        let exited = status & 0x7f == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            let how = exited ? "exited \(code)" : "was killed by signal \(status & 0x7f)"
            throw Failure("\((program as NSString).lastPathComponent) \(how): \(text)")
        }
    }
}
