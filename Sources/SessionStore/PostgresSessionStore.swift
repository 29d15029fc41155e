import Dispatch
import Foundation
import Logging
import NIOSSL
import PostgresNIO
import Sessions

/// The fleet's store: one PostgreSQL database that every relay of a fleet writes and the admin
/// API of any relay reads, through postgres-nio's connection pool. The same rows as the SQLite
/// store (one per session, the final record wins), the same queries, and a schema versioned by
/// the migrations below: each runs once, in order, under an advisory lock (two relays starting
/// together migrate once), and a database migrated by a newer relay is refused.
///
/// `SessionStore` is synchronous (called from the store writer's thread, the admin API's store
/// queue and the records CLI): each call waits, at most `timeout`, for its query, which runs on
/// the store's own executor rather than on the caller's.
public final class PostgresSessionStore: SessionStore {
    public let settings: Settings
    let client: PostgresClient
    let runner: Task<Void, Never>
    let logger: Logger

    /// Where the database is and how to reach it (Sessions, so that the configuration can check
    /// a URL without the store's dependencies).
    public typealias Settings = PostgresSettings

    /// A migration: its statements, then (if any) a step in Swift in the same transaction.
    typealias Migration = (id: String, sql: [String], then: (@Sendable (PostgresConnection, Logger) async throws -> Void)?)

    /// The schema's migrations, oldest first. A new one is appended, never edited.
    static let migrations: [Migration] = [
        (
            "1: sessions and audit",
            [
                """
                CREATE TABLE session_records (
                    session_id TEXT PRIMARY KEY NOT NULL,
                    device_id TEXT NOT NULL,
                    type TEXT NOT NULL,
                    start TEXT NOT NULL,
                    "end" TEXT NOT NULL,
                    schema INTEGER NOT NULL,
                    record TEXT NOT NULL
                )
                """,
                "CREATE INDEX session_records_device ON session_records (device_id, start, session_id)",
                "CREATE INDEX session_records_end ON session_records (\"end\")",
                """
                CREATE TABLE audit (
                    id BIGSERIAL PRIMARY KEY,
                    at TEXT NOT NULL,
                    action TEXT NOT NULL,
                    records INTEGER NOT NULL
                )
                """,
            ],
            nil
        ),
        (
            "2: audit trail",
            [
                """
                CREATE TABLE audit_trail (
                    id BIGINT PRIMARY KEY NOT NULL,
                    at TEXT NOT NULL,
                    actor TEXT NOT NULL,
                    action TEXT NOT NULL,
                    device_id TEXT,
                    records BIGINT NOT NULL,
                    outcome TEXT NOT NULL,
                    prev_hash TEXT NOT NULL,
                    hash TEXT NOT NULL
                )
                """,
                "CREATE INDEX audit_trail_at ON audit_trail (at COLLATE \"C\")",
                """
                CREATE FUNCTION audit_trail_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'audit entries are append-only'; END $$
                """,
                """
                CREATE TRIGGER audit_trail_append_only BEFORE UPDATE ON audit_trail
                FOR EACH ROW EXECUTE FUNCTION audit_trail_append_only()
                """,
            ],
            { connection, logger in
                // The erasure notes of schema 1 open the trail, in their order.
                var notes: [AuditEntry] = []
                for try await (at, action, records) in try await connection.query(
                    "SELECT at, action, records FROM audit ORDER BY id", logger: logger
                ).decode((String, String, Int).self) {
                    notes.append(AuditTrailRows.carried(at: at, action: action, records: records))
                }
                for note in notes { _ = try await append(note, connection, logger) }
                try await connection.query("DROP TABLE audit", logger: logger)
            }
        ),
    ]

    /// Whether this process has seen the schema current (migrations run before the first query
    /// after a start with the database down).
    private let migrated = NSLock()
    nonisolated(unsafe) private var isMigrated = false  // guarded by `migrated`

    /// Connects to and migrates the database (`settings.timeout` at most). With `reachable` false
    /// a database that does not answer is no error: the relay starts, its records spool, and the
    /// migrations run when the database first answers. A newer schema is refused either way.
    public init(
        settings: Settings, reachable: Bool = true,
        logger: Logger = Logger(label: "av1relay.store") { _ in SwiftLogNoOpLogHandler() }
    ) throws {
        self.settings = settings
        self.logger = logger
        let tls: PostgresClient.Configuration.TLS
        switch settings.tls {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(.makeClientConfiguration())
        case .require: tls = .require(.makeClientConfiguration())
        }
        var configuration = PostgresClient.Configuration(
            host: settings.host, port: settings.port, username: settings.username, password: settings.password,
            database: settings.database, tls: tls)
        configuration.options.connectTimeout = settings.timeout
        configuration.options.maximumConnections = 4
        // The pool's own logs stay quiet: they would name the database's address.
        let client = PostgresClient(
            configuration: configuration, backgroundLogger: Logger(label: "av1relay.store.pool") { _ in SwiftLogNoOpLogHandler() })
        self.client = client
        runner = Task.detached(executorPreference: Self.executor) { await client.run() }
        do {
            try migrateOnce()
        } catch let error as SchemaTooNew {
            runner.cancel()
            throw StoreError(error.description)
        } catch  where reachable {
            runner.cancel()
            throw error
        } catch {
            logger.warning("session store unreachable at start; records spool until it answers: \(error)")
        }
    }

    /// A database migrated by a newer relay.
    struct SchemaTooNew: Error, CustomStringConvertible { var description: String }

    /// Migrates unless done; every query goes through here first.
    func migrateOnce() throws {
        try migrated.withLock {
            guard !isMigrated else { return }
            try migrate()
            isMigrated = true
        }
    }

    deinit { runner.cancel() }

    /// Where the client and every query run: threads of their own, so that a caller blocked on a
    /// query (even one of Swift's cooperative pool) never waits for a thread it holds itself.
    static let executor = StoreExecutor(label: "av1relay.store.postgres")

    /// Runs `body` against the pool and waits for it, at most `settings.timeout` (then the query
    /// is cancelled and the call fails).
    func wait<T: Sendable>(_ what: String, _ body: @escaping @Sendable (PostgresClient) async throws -> T) throws -> T {
        try migrateOnce()
        return try query(what, body)
    }

    /// `wait` without the migrations (which it runs with).
    func query<T: Sendable>(_ what: String, _ body: @escaping @Sendable (PostgresClient) async throws -> T) throws -> T {
        let outcome = Outcome<T>()
        let done = DispatchSemaphore(value: 0)
        let client = client
        let task = Task.detached(executorPreference: Self.executor) {
            outcome.set(await Result(catching: { try await body(client) }))
            done.signal()
        }
        let seconds = Double(settings.timeout.components.seconds)
        guard done.wait(timeout: .now() + seconds) == .success else {
            task.cancel()
            throw StoreError("\(settings) did not answer \(what) within \(Int(seconds)) s")
        }
        do {
            return try outcome.get()
        } catch {
            throw failure(error, what)
        }
    }

    /// What a failed query throws: our own errors as they are (also from inside a transaction,
    /// which postgres-nio wraps), the server's as a `StoreError` that says what it said.
    func failure(_ error: any Error, _ what: String) -> any Error {
        switch error {
        case is StoreError, is SchemaTooNew:
            return error
        case let error as PostgresTransactionError:
            let cause = error.closureError ?? error.beginError ?? error.commitError ?? error.rollbackError
            return failure(cause ?? StoreError("a transaction failed"), what)
        case let error as PSQLError:
            // PSQLError's description hides the server's message; its fields say what happened.
            let message = error.serverInfo?[.message].map { ": \($0)" } ?? ""
            return StoreError("\(settings) failed \(what) (\(error.code))\(message)")
        default:
            // Only the kind: a connection error's description may name the server's address.
            return StoreError("\(settings) failed \(what): \(type(of: error))")
        }
    }

    func migrate() throws {
        let logger = logger
        let migrations = Self.migrations
        let database = settings.description
        try query("its migrations") { client in
            try await client.withTransaction(logger: logger) { connection in
                // One relay at a time: the others wait here and then find nothing left to do.
                try await connection.query("SELECT pg_advisory_xact_lock(\(Int(0x6176_3172)))", logger: logger)
                try await connection.query(
                    "CREATE TABLE IF NOT EXISTS av1relay_migrations (identifier TEXT PRIMARY KEY NOT NULL, applied_at TEXT NOT NULL)",
                    logger: logger)
                var applied = Set<String>()
                for try await id in try await connection.query("SELECT identifier FROM av1relay_migrations", logger: logger)
                    .decode(String.self)
                {
                    applied.insert(id)
                }
                let unknown = applied.subtracting(migrations.map(\.id))
                guard unknown.isEmpty else {
                    throw SchemaTooNew(
                        description: "\(database) has a newer schema (\(unknown.sorted().joined(separator: ", "))) than this relay knows")
                }
                for migration in migrations where !applied.contains(migration.id) {
                    for statement in migration.sql { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                    try await migration.then?(connection, logger)
                    let now = SessionRecord.timestamp(Date())
                    try await connection.query(
                        "INSERT INTO av1relay_migrations (identifier, applied_at) VALUES (\(migration.id), \(now))", logger: logger)
                }
            }
        }
    }

    static func decode(_ rows: PostgresRowSequence) async throws -> [SessionRecord] {
        let decoder = JSONDecoder()
        var records: [SessionRecord] = []
        for try await json in rows.decode(String.self) {
            records.append(try decoder.decode(SessionRecord.self, from: Data(json.utf8)))
        }
        return records
    }

    static func count(_ rows: PostgresRowSequence) async throws -> Int {
        var total = 0
        for try await n in rows.decode(Int.self) { total += n }
        return total
    }

    public func write(_ records: [SessionRecord]) throws {
        let rows = try records.map { r in (r, String(decoding: try r.json(), as: UTF8.self)) }
        let logger = logger
        let sql = SessionRows.upsert((1...7).map { "$\($0)" })
        try wait("a write") { client in
            try await client.withTransaction(logger: logger) { connection in
                for (r, json) in rows {
                    var binds = PostgresBindings()
                    for value in [r.sessionID, r.deviceID, r.type, r.start, r.end] { binds.append(value) }
                    binds.append(r.schema)
                    binds.append(json)
                    try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
                }
            }
        }
    }

    public func sessions(device: String, from: String?, to: String?, limit: Int, after cursor: String?) throws -> SessionPage {
        let limit = max(1, limit)
        var binds = PostgresBindings()
        var sql = "SELECT record FROM session_records WHERE device_id = $1"
        binds.append(device)
        func bind(_ value: String) -> String {
            binds.append(value)
            return "$\(binds.count)"
        }
        if let from { sql += " AND start >= \(bind(from))" }
        if let to { sql += " AND start < \(bind(to))" }
        if let cursor {
            let c = try SessionCursor(parsing: cursor)
            let start = bind(c.start)
            sql += " AND (start > \(start) OR (start = \(start) AND session_id > \(bind(c.sessionID))))"
        }
        // COLLATE "C": the order SQLite compares in (bytes), whatever the database's collation.
        sql += " ORDER BY start COLLATE \"C\", session_id COLLATE \"C\" LIMIT \(limit + 1)"
        let query = PostgresQuery(unsafeSQL: sql, binds: binds)
        let fetched = try wait("a page of sessions") { client in try await Self.decode(try await client.query(query)) }
        return SessionPage(fetched: fetched, limit: limit)
    }

    public func sessions(overlapping from: String, to: String, device: String?) throws -> [SessionRecord] {
        var binds = PostgresBindings()
        binds.append(to)
        binds.append(from)
        var sql = "SELECT record FROM session_records WHERE start COLLATE \"C\" < $1 AND \"end\" COLLATE \"C\" >= $2"
        if let device {
            binds.append(device)
            sql += " AND device_id = $3"
        }
        let query = PostgresQuery(unsafeSQL: sql, binds: binds)
        return try wait("the sessions of a period") { client in try await Self.decode(try await client.query(query)) }
    }

    public func session(id: String) throws -> SessionRecord? {
        try wait("a session") { client in
            try await Self.decode(try await client.query("SELECT record FROM session_records WHERE session_id = \(id)")).first
        }
    }

    public func records(device: String) throws -> [SessionRecord] {
        try wait("a device's records") { client in
            try await Self.decode(
                try await client.query(
                    "SELECT record FROM session_records WHERE device_id = \(device) ORDER BY start COLLATE \"C\", session_id COLLATE \"C\"")
            )
        }
    }

    public func lastFinals(device: String, limit: Int) throws -> [SessionRecord] {
        try wait("a device's last sessions") { client in
            try await Self.decode(
                try await client.query(
                    """
                    SELECT record FROM session_records WHERE device_id = \(device) AND type = 'final'
                    ORDER BY start COLLATE "C" DESC, session_id COLLATE "C" DESC LIMIT \(limit)
                    """))
        }
    }

    public func delete(device: String) throws -> Int {
        try wait("an erasure") { client in
            try await Self.count(
                try await client.query(
                    "WITH d AS (DELETE FROM session_records WHERE device_id = \(device) RETURNING 1) SELECT count(*)::BIGINT FROM d"))
        }
    }

    public func purge(endedBefore cutoff: String) throws -> Int {
        try wait("a purge") { client in
            try await Self.count(
                try await client.query(
                    """
                    WITH d AS (DELETE FROM session_records WHERE "end" COLLATE "C" < \(cutoff) RETURNING 1)
                    SELECT count(*)::BIGINT FROM d
                    """))
        }
    }

    /// Appends on `connection`, inside its transaction: the table is locked against other
    /// appenders (any relay of the fleet) until it commits, so the last entry stays the last.
    static func append(_ entry: AuditEntry, _ connection: PostgresConnection, _ logger: Logger) async throws -> AuditEntry {
        try await connection.query("LOCK TABLE audit_trail IN EXCLUSIVE MODE", logger: logger)
        var last: (Int, String)?
        for try await row in try await connection.query("SELECT id, hash FROM audit_trail ORDER BY id DESC LIMIT 1", logger: logger)
            .decode((Int, String).self)
        {
            last = row
        }
        let sealed = AuditChain.seal(entry, after: last)
        let values = AuditTrailRows.values(sealed)
        try await connection.query(
            PostgresQuery(unsafeSQL: AuditTrailRows.insert((1...values.count).map { "$\($0)" }), binds: PostgresBindings(values)),
            logger: logger)
        return sealed
    }

    public func append(_ entry: AuditEntry) throws -> AuditEntry {
        let logger = logger
        return try wait("an audit entry") { client in
            try await client.withTransaction(logger: logger) { connection in try await Self.append(entry, connection, logger) }
        }
    }

    public func auditEntries(_ query: AuditQuery) throws -> [AuditEntry] {
        let (sql, values) = AuditTrailRows.select(query) { "$\($0)" }
        let statement = PostgresQuery(unsafeSQL: sql, binds: PostgresBindings(values))
        return try wait("the audit trail") { client in
            var entries: [AuditEntry] = []
            for try await (id, at, actor, action, device, records, outcome, previous, hash) in try await client.query(statement)
                .decode((Int, String, String, String, String?, Int, String, String, String).self)
            {
                var e = AuditEntry(at: at, actor: actor, action: action, device: device, records: records, outcome: outcome)
                e.id = id
                e.previousHash = previous
                e.hash = hash
                entries.append(e)
            }
            return entries
        }
    }

    public func purgeAudit(before cutoff: String) throws -> Int {
        let statement = PostgresQuery(
            unsafeSQL: "WITH d AS (\(AuditTrailRows.purge("$1")) RETURNING 1) SELECT count(*)::BIGINT FROM d",
            binds: PostgresBindings([.text(cutoff)]))
        return try wait("an audit purge") { client in try await Self.count(try await client.query(statement)) }
    }
}

extension PostgresBindings {
    init(_ values: [SQLValue]) {
        self.init()
        for v in values {
            switch v {
            case .text(let s?): append(s)
            case .text(nil): appendNull()
            case .int(let n): append(n)
            }
        }
    }
}

/// A task executor on a Dispatch queue of its own (which starts threads as they block), for
/// async work that a blocked thread waits for.
final class StoreExecutor: TaskExecutor {
    let queue: DispatchQueue

    init(label: String) { queue = DispatchQueue(label: label, attributes: .concurrent) }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// What a task hands back to the thread waiting for it.
final class Outcome<T: Sendable>: @unchecked Sendable {  // `lock` guards `result`
    private let lock = NSLock()
    private var result: Result<T, any Error>?

    func set(_ result: Result<T, any Error>) { lock.withLock { self.result = result } }

    func get() throws -> T {
        guard let result = lock.withLock({ result }) else { throw StoreError("no result") }
        return try result.get()
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
