import Foundation

/// A session store that cannot be opened or written, or is misconfigured.
public struct StoreError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}

/// Where the database is and how to reach it, from `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…]`.
public struct PostgresSettings: Sendable, Equatable, CustomStringConvertible {
    public enum TLSMode: String, Sendable, Equatable { case disable, prefer, require }
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// How long one call may wait for the database before it fails (and records spool).
    public var timeout: Duration

    /// Parses a `postgres://` (or `postgresql://`) URL; a password left out of it may come from
    /// `PGPASSWORD` in `environment`. Errors say what is wrong, never the password.
    public init(url text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard let url = URLComponents(string: text), let scheme = url.scheme, ["postgres", "postgresql"].contains(scheme) else {
            throw StoreError("a PostgreSQL store is postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require]")
        }
        guard let host = url.host, !host.isEmpty else { throw StoreError("the PostgreSQL URL names no host") }
        guard let user = url.user, !user.isEmpty else { throw StoreError("the PostgreSQL URL names no user") }
        let database = String(url.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else { throw StoreError("the PostgreSQL URL names no database") }
        var tls = TLSMode.prefer
        var timeout = Duration.seconds(5)
        for item in url.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                    throw StoreError("sslmode is disable, prefer or require")
                }
                tls = mode
            case "timeout":
                guard let seconds = item.value.flatMap(Int.init), (1...300).contains(seconds) else {
                    throw StoreError("timeout is a whole number of seconds from 1 to 300")
                }
                timeout = .seconds(seconds)
            default:
                throw StoreError("unknown PostgreSQL URL parameter '\(item.name)' (sslmode, timeout)")
            }
        }
        // A bracketed IPv6 literal comes back with its brackets.
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        self.port = url.port ?? 5432
        self.username = user
        self.password = url.password ?? environment["PGPASSWORD"]
        self.database = database
        self.tls = tls
        self.timeout = timeout
    }

    /// For logs and errors: the database's name, never its address, user or password (logs
    /// hold no address or user name of any kind).
    public var description: String { "the PostgreSQL database '\(database)'" }
}
