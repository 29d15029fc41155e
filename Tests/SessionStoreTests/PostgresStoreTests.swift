import Foundation
import SessionStore
import Sessions
import TestSupport
import Testing

/// What only the PostgreSQL store has: a URL, a server that can be down, several relays on one
/// database. The tests every store passes are `StoreTests`.
@Suite("PostgreSQL session store")
struct PostgresStoreTests {
    typealias Settings = PostgresSessionStore.Settings

    @Test("a postgres:// URL: host, port, user, database, TLS mode, timeout; errors say what is wrong and never the password")
    func urls() throws {
        let s = try Settings(url: "postgres://relay:s3cret@db.example:6543/av1?sslmode=require&timeout=9", environment: [:])
        #expect(s.host == "db.example" && s.port == 6543 && s.username == "relay" && s.password == "s3cret" && s.database == "av1")
        #expect(s.tls == .require && s.timeout == .seconds(9))
        #expect(!s.description.contains("s3cret"))
        let d = try Settings(url: "postgresql://relay@[::1]/av1", environment: ["PGPASSWORD": "from-env"])
        #expect(d.host == "::1" && d.port == 5432 && d.password == "from-env" && d.tls == .prefer && d.timeout == .seconds(5))
        for bad in [
            "postgres://relay@/av1", "postgres://db/av1", "postgres://relay:pw@db", "postgres://relay:pw@db/av1?sslmode=maybe",
            "postgres://relay:pw@db/av1?timeout=0", "postgres://relay:pw@db/av1?color=red", "mysql://relay@db/av1",
        ] {
            #expect(throws: StoreError.self, "\(bad)") { try Settings(url: bad, environment: [:]) }
            do { _ = try Settings(url: bad, environment: [:]) } catch { #expect(!"\(error)".contains("pw"), "\(error)") }
        }
    }

    @Test("a reopened database keeps its records; two relays migrating one database at once both start; a newer schema is refused")
    func schemaVersions() throws {
        let server = try PostgresServer.shared.get()
        let database = PostgresServer.databaseName()
        let url = try server.makeDatabase(database)
        // Two relays starting together on a new database: the advisory lock lets one migrate.
        let opened = try [0, 1].map { _ in Task.detached { try PostgresSessionStore(settings: .init(url: url)) } }.map { task in
            try waitFor(task)
        }
        let r = try record("a", device: "r1", start: "2026-12-01T10:00:00.000Z", end: "2026-12-01T11:00:00.000Z")
        try opened[0].write([r])
        #expect(try opened[1].records(device: "r1") == [r])
        #expect(try PostgresSessionStore(settings: .init(url: url)).records(device: "r1") == [r])
        // As a later relay would leave it: one more migration applied.
        try server.sql(database, "INSERT INTO av1relay_migrations VALUES ('99: future', '2027-01-01T00:00:00.000Z')")
        #expect(throws: StoreError.self) { try PostgresSessionStore(settings: .init(url: url)) }
        #expect(throws: StoreError.self) { try PostgresSessionStore(settings: .init(url: url), reachable: false) }
    }

    @Test("the server stopped mid-run: records spool, and when it is back every one is in the store exactly once")
    func serverDownAndBack() throws {
        let server = try PostgresServer()
        defer { server.remove() }
        let url = try server.makeDatabase()
        let store = try PostgresSessionStore(settings: .init(url: url))
        let dir = try Scratch()
        let writer = StoreWriter(store: store, spoolPath: dir.path("spool.jsonl"), retryInterval: .milliseconds(200))
        func r(_ i: Int) throws -> SessionRecord {
            try record("s\(i)", device: "r1", start: "2026-12-01T10:\(10 + i):00.000Z", end: "2026-12-01T10:\(10 + i):30.000Z")
        }
        for i in 0..<5 { try writer.write(try r(i)) }
        writer.flush()
        #expect(try store.records(device: "r1").count == 5)

        try server.stop()
        // Interims and then the finals of the same sessions, and new ones: the caller never waits.
        for i in 3..<8 {
            try writer.write(
                try record(
                    "s\(i)", device: "r1", type: "interim", start: "2026-12-01T10:\(10 + i):00.000Z", end: "2026-12-01T10:\(10 + i):10.000Z"
                ))
        }
        for i in 3..<12 { try writer.write(try r(i)) }
        writer.flush()
        #expect(writer.backlog.spooled == 14, "\(writer.backlog)")
        #expect(throws: StoreError.self) { try store.records(device: "r1") }

        try server.start()
        #expect(eventually(seconds: 60) { writer.backlog.spooled == 0 }, "\(writer.backlog)")
        writer.flush()
        let stored = try store.records(device: "r1")
        #expect(stored == (try (0..<12).map(r)), "each session once, its final record")
        #expect(writer.backlog == .init(queued: 0, spooled: 0, lost: 0))
    }

    @Test("a relay started while the database is down opens its store and migrates it when the database answers")
    func unreachableAtStart() throws {
        let server = try PostgresServer()
        defer { server.remove() }
        let url = try server.makeDatabase()
        try server.stop()
        #expect(throws: StoreError.self) { try PostgresSessionStore(settings: .init(url: url)) }
        let store = try PostgresSessionStore(settings: .init(url: url), reachable: false)
        let r = try record("a", device: "r1", start: "2026-12-01T10:00:00.000Z", end: "2026-12-01T11:00:00.000Z")
        #expect(throws: StoreError.self) { try store.write([r]) }
        try server.start()
        try store.write([r])
        #expect(try store.records(device: "r1") == [r])
    }
}

/// The value of a detached task, from a test's synchronous body.
func waitFor<T: Sendable>(_ task: Task<T, any Error>) throws -> T {
    let done = DispatchSemaphore(value: 0)
    let box = Box<Result<T, any Error>>()
    Task.detached {
        box.value = await task.result
        done.signal()
    }
    done.wait()
    return try box.value!.get()
}

final class Box<T>: @unchecked Sendable {  // written once before the semaphore, read after it
    var value: T?
}
