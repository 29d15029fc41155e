import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOSSL
import RelayServer
import STUN
import SessionStore
import Sessions

/// The admin API (issue 10): an HTTP listener of its own on Hummingbird, beside the relay in the
/// same ServiceGroup. Routes and their scopes are `AdminAPI.routes`, which the OpenAPI document
/// (`/openapi.json`, `OpenAPIDocument.json`) describes one for one — a test holds them together.
public enum AdminAPI {
    /// One route: method, path in OpenAPI's spelling, and the scope it needs (nil: none);
    /// `audited`: it reads or changes record data (or the audit trail), and every request that
    /// presents a known token leaves one audit entry; `relayWide`: it is about the whole relay,
    /// so a token limited to devices may not use it.
    public struct Route: Sendable, Hashable, CustomStringConvertible {
        public var method: HTTPRequest.Method
        public var path: String
        public var scope: AdminToken.Scope?
        public var audited = false
        public var relayWide = false

        /// Hummingbird's spelling of the path (`{deviceId}` → `:deviceId`).
        var routerPath: String {
            path.split(separator: "/", omittingEmptySubsequences: false).map {
                $0.hasPrefix("{") && $0.hasSuffix("}") ? ":" + $0.dropFirst().dropLast() : String($0)
            }.joined(separator: "/")
        }

        public var description: String { "\(method) \(path)" }
    }

    typealias Handler = @Sendable (Request, AdminContext) async throws -> Response
    /// An audited route's handler: it notes the device and the records it answers with.
    typealias AuditedHandler = @Sendable (Request, AdminContext, AuditNote) async throws -> Response

    /// The application for `relay`, listening on `address` (tests pass port 0 and read the port
    /// from `onServerRunning`); HTTPS when `tls` is given.
    public static func application(
        relay: RelayService, address: TransportAddress, tls: TLSConfiguration? = nil, logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let router = router(relay: relay, logger: logger, secure: tls != nil).router
        return Application(
            router: router, server: try tls.map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1(),
            configuration: .init(address: .hostname("\(address.ip)", port: Int(address.port)), serverName: "av1relay"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? Int(address.port)) }, logger: logger)
    }

    /// The admin API's TLS from PEM files (`admin-tls-cert`, `admin-tls-key`): TLS 1.2 at least.
    public static func tlsConfiguration(certificate: String, key: String) throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        let privateKey: NIOSSLPrivateKey
        do { chain = try NIOSSLCertificate.fromPEMFile(certificate) } catch {
            throw TLSFileError(description: "admin-tls-cert \(certificate): no PEM certificate chain (\(error))")
        }
        guard !chain.isEmpty else { throw TLSFileError(description: "admin-tls-cert \(certificate): no certificate in it") }
        do { privateKey = try NIOSSLPrivateKey(file: key, format: .pem) } catch {
            throw TLSFileError(description: "admin-tls-key \(key): no PEM private key (\(error))")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }

    public struct TLSFileError: Error, CustomStringConvertible { public var description: String }

    /// The router and the routes it serves, in registration order.
    /// `secure`: the listener speaks HTTPS (the status pages' cookie is then `Secure`).
    static func router(relay: RelayService, logger: Logger, secure: Bool = false) -> (router: Router<AdminContext>, routes: [Route]) {
        let router = Router(context: AdminContext.self)
        router.add(middleware: ErrorMiddleware(logger: logger))
        var routes: [Route] = []
        let tokens: @Sendable () -> [AdminToken] = { relay.server.configuration.adminTokens }
        let handlers = Handlers(relay: relay, metrics: MetricsExporter(server: relay.server), secure: secure)
        func register(_ route: Route, page: Bool, _ handler: @escaping Handler) {
            routes.append(route)
            if route.scope != nil {
                router.group().add(middleware: BearerAuth(route: route, tokens: tokens, pages: page))
                    .on(RouterPath(route.routerPath), method: route.method, use: handler)
            } else {
                router.on(RouterPath(route.routerPath), method: route.method, use: handler)
            }
        }
        func add(
            _ method: HTTPRequest.Method, _ path: String, _ scope: AdminToken.Scope?, relayWide: Bool = false,
            _ handler: @escaping Handler
        ) {
            register(Route(method: method, path: path, scope: scope, relayWide: relayWide), page: false, handler)
        }
        func audited(
            _ method: HTTPRequest.Method, _ path: String, _ scope: AdminToken.Scope, page: Bool = false, relayWide: Bool = false,
            _ handler: @escaping AuditedHandler
        ) {
            let route = Route(method: method, path: path, scope: scope, audited: true, relayWide: relayWide)
            register(route, page: page, handlers.audited(route, logger: logger, handler))
        }
        add(.get, "/healthz", nil) { _, _ in try json(["status": "ok"]) }
        add(.get, "/readyz", nil, handlers.ready)
        add(.get, "/openapi.json", nil) { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
        add(.get, "/metrics", .read, relayWide: true, handlers.metrics)
        audited(.get, "/v1/devices/{deviceId}", .read, handlers.device)
        audited(.get, "/v1/devices/{deviceId}/sessions", .read, handlers.deviceSessions)
        audited(.get, "/v1/devices/{deviceId}/usage", .read, handlers.deviceUsage)
        audited(.get, "/v1/usage", .read, handlers.usage)
        audited(.get, "/v1/sessions", .read, handlers.liveSessions)
        audited(.get, "/v1/sessions/{sessionId}", .read, handlers.session)
        audited(.get, "/v1/devices/{deviceId}/export", .admin, handlers.export)
        audited(.delete, "/v1/devices/{deviceId}/records", .admin, handlers.delete)
        audited(.get, "/v1/audit", .admin, relayWide: true, handlers.auditTrail)
        audited(.get, "/v1/audit/verify", .admin, relayWide: true, handlers.auditVerify)
        add(.post, "/v1/drain", .admin, relayWide: true, handlers.drain)
        add(.post, "/v1/reload", .admin, relayWide: true, handlers.reload)
        // The status pages (HTML, StatusPages.swift): the same tokens, or the cookie of their sign-in form.
        audited(.get, "/status", .read, page: true, handlers.statusOverview)
        audited(.get, "/status/devices/{deviceId}", .read, page: true, handlers.statusDevice)
        add(.post, "/status/login", nil) { request, context in try await handlers.statusLogin(request, context, tokens: tokens()) }
        add(.post, "/status/logout", nil, handlers.statusLogout)
        return (router, routes)
    }

    /// The routes, as `application` registers them.
    public static func routes(relay: RelayService) -> [Route] {
        router(relay: relay, logger: Logger(label: "av1relay.admin") { _ in SwiftLogNoOpLogHandler() }).routes
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    /// A JSON response.
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}

/// What the routes answer.
struct Handlers: Sendable {
    let relay: RelayService
    let metrics: MetricsExporter
    /// The listener speaks HTTPS.
    var secure = false
    var server: RelayServer { relay.server }

    /// The route's device, as credentials carry it (`robot:<id>`): 1–128 of letters, digits, `.`,
    /// `_`, `~`, `-`; noted for the audit, and refused (403 `forbidden_device`) when the token is
    /// limited to other devices.
    static func deviceID(_ context: AdminContext, _ note: AuditNote) throws -> String {
        let id = try validDeviceID(context.parameters.get("deviceId") ?? "")
        note.device = id
        try allow(id, context)
        return id
    }

    /// `text` if it is a device id, else 400 `invalid_device_id`.
    static func validDeviceID(_ text: some StringProtocol) throws -> String {
        guard AdminToken.isDeviceID(text) else {
            throw APIError.badRequest("invalid_device_id", "a device id is 1 to 128 letters, digits, '.', '_', '~' or '-'")
        }
        return String(text)
    }

    /// The `limit` query parameter, 1 to `max` (`default` when absent), else 400 `invalid_limit`.
    static func limit(_ request: Request, default value: Int, max: Int) throws -> Int {
        guard let text = request.uri.queryParameters.get("limit") else { return value }
        guard let n = Int(text), (1...max).contains(n) else {
            throw APIError.badRequest("invalid_limit", "'limit' is a whole number from 1 to \(max)")
        }
        return n
    }

    /// 403 `forbidden_device` unless the request's token covers `device`.
    static func allow(_ device: String, _ context: AdminContext) throws {
        guard context.token?.allows(device: device) ?? true else {
            throw APIError(.forbidden, "forbidden_device", "this token does not cover device \(device)")
        }
    }

    /// An ISO 8601 date-time query parameter, as records spell their times (to the millisecond, UTC).
    static func time(_ request: Request, _ name: String) throws -> String? {
        guard let text = request.uri.queryParameters.get(name) else { return nil }
        let withFraction = ISO8601DateFormatter()
        withFraction.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        guard let date = ISO8601DateFormatter().date(from: text) ?? withFraction.date(from: text) else {
            throw APIError.badRequest("invalid_time", "'\(name)' is not an RFC 3339 date-time such as 2026-12-01T10:00:00Z")
        }
        return SessionRecord.timestamp(date)
    }

    var store: (any SessionStore)? { server.recordKeeper().store }

    func storeOrFail() throws -> any SessionStore {
        guard let store else { throw APIError(.serviceUnavailable, "no_store", "this relay keeps no session store (session-store none)") }
        return store
    }

    /// Store calls and scrapes block (a query, a file read, a database round trip bounded by its
    /// timeout, a wait for each worker), so they run here, not on the cooperative pool.
    static let blockingQueue = DispatchQueue(label: "av1relay.admin.blocking", attributes: .concurrent)

    /// A blocking call, run off the cooperative pool.
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            blockingQueue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// A store call, off the cooperative pool; its failure is 503 `store_unavailable`, not a 500.
    func stored<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        do {
            return try await Self.blocking(body)
        } catch let error as APIError { throw error } catch {
            throw APIError(.serviceUnavailable, "store_unavailable", "the session store cannot be read now")
        }
    }

    func ready(_: Request, _: AdminContext) async throws -> Response {
        if relay.isReady { return try AdminAPI.json(Readiness(ready: true, reason: nil)) }
        let reason = server.isDraining ? "draining" : "not serving"
        return try AdminAPI.json(Readiness(ready: false, reason: reason), status: .serviceUnavailable)
    }

    /// Prometheus text format 0.0.4; a scrape waits for each worker between two packets.
    func metrics(_: Request, _: AdminContext) async throws -> Response {
        let metrics = metrics
        let text = try await Self.blocking { metrics.scrape() }
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    func device(_: Request, _ context: AdminContext, _ note: AuditNote) async throws -> Response {
        let id = try Self.deviceID(context, note)
        let live = server.live(device: id)
        let store = store
        let last = try await stored { try store?.lastFinal(device: id) }
        let seen = [live.lastActivity, live.session?.end, last?.end].compactMap { $0 }.max()
        note.records = [live.session, last].compactMap { $0 }.count
        return try AdminAPI.json(
            DeviceStatus(
                deviceID: id, online: .init(robot: live.robot, app: live.app, transports: live.transports),
                inCall: live.session != nil, liveSession: live.session, lastSession: last, lastSeen: seen))
    }

    func deviceSessions(_ request: Request, _ context: AdminContext, _ note: AuditNote) async throws -> Response {
        let id = try Self.deviceID(context, note)
        let query = request.uri.queryParameters
        let limit = try Self.limit(request, default: 100, max: 1000)
        let from = try Self.time(request, "from")
        let to = try Self.time(request, "to")
        let cursor = query.get("cursor").map { String($0) }
        let store = try storeOrFail()
        let page = try await stored { [limit] in
            do {
                return try store.sessions(device: id, from: from, to: to, limit: limit, after: cursor)
            } catch is InvalidCursor {
                throw APIError.badRequest("invalid_cursor", "'cursor' is not one this API gave")
            }
        }
        note.records = page.records.count
        return try AdminAPI.json(SessionList(sessions: page.records, nextCursor: page.nextCursor))
    }

    func liveSessions(_ request: Request, _ context: AdminContext, _ note: AuditNote) async throws -> Response {
        guard request.uri.queryParameters.get("live") == "true" else {
            throw APIError.badRequest(
                "live_required", "only live sessions are listed here: ?live=true (a device's: /v1/devices/{id}/sessions)")
        }
        let sessions = server.liveSessions().filter { context.token?.allows(device: $0.deviceID) ?? true }
        note.records = sessions.count
        return try AdminAPI.json(SessionList(sessions: sessions, nextCursor: nil))
    }

    func session(_: Request, _ context: AdminContext, _ note: AuditNote) async throws -> Response {
        let id = context.parameters.get("sessionId") ?? ""
        guard id.utf8.count == 32, id.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
            throw APIError.badRequest("invalid_session_id", "a session id is 32 lowercase hex digits")
        }
        var found = server.liveSessions().first { $0.sessionID == id }
        if found == nil {
            let store = try storeOrFail()
            found = try await stored { try store.session(id: id) }
        }
        guard let record = found else { throw APIError.notFound("no session \(id) here") }
        note.device = record.deviceID
        try Self.allow(record.deviceID, context)
        note.records = 1
        return try AdminAPI.json(record)
    }

    func export(_: Request, _ context: AdminContext, _ note: AuditNote) async throws -> Response {
        let id = try Self.deviceID(context, note)
        let keeper = server.recordKeeper()
        let export = try await stored { try keeper.export(device: id) }
        note.records = export.holds.total
        return try AdminAPI.json(export)
    }

    func delete(_: Request, _ context: AdminContext, _ note: AuditNote) async throws -> Response {
        let id = try Self.deviceID(context, note)
        let keeper = server.recordKeeper()
        let counts = try await stored { try keeper.delete(device: id) }
        note.records = counts.total
        return try AdminAPI.json(counts)
    }

    func drain(_: Request, _: AdminContext) async throws -> Response {
        relay.requestDrain()
        return try AdminAPI.json(["draining": true], status: .accepted)
    }

    func reload(_: Request, _: AdminContext) async throws -> Response {
        let outcome = relay.reload()
        if let refused = outcome.refused { throw APIError(.conflict, "reload_refused", refused) }
        return try AdminAPI.json(["changed": outcome.changed])
    }
}

struct Readiness: Encodable {
    var ready: Bool
    var reason: String?
}

/// `GET /v1/devices/{deviceId}`.
struct DeviceStatus: Encodable {
    struct Online: Encodable {
        var robot: Bool
        var app: Bool
        var transports: [String: String]
    }
    var deviceID: String
    var online: Online
    var inCall: Bool
    var liveSession: SessionRecord?
    var lastSession: SessionRecord?
    var lastSeen: String?

    enum CodingKeys: String, CodingKey {
        case deviceID = "device_id", online, inCall = "in_call", liveSession = "live_session", lastSession = "last_session"
        case lastSeen = "last_seen"
    }
}

/// A list of sessions, and where the next page starts.
struct SessionList: Encodable {
    var sessions: [SessionRecord]
    var nextCursor: String?

    enum CodingKeys: String, CodingKey {
        case sessions, nextCursor = "next_cursor"
    }
}
