import Foundation
import HTTPTypes
import Hummingbird
import RelayServer
import STUN

/// The admin API's request context: the framework's, and the token the request presented.
struct AdminContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// Set by `BearerAuth` once the token is known.
    var token: AdminToken?

    init(source: Source) { coreContext = .init(source: source) }
}

/// `Authorization: Bearer TOKEN`, checked against the configuration's token hashes as they are
/// now (a reload changes them at once): 401 without a known token, 403 when its scope is below
/// the route's, or when it is limited to devices and the route is about the whole relay
/// (`relayWide`). The hash compare takes the same time whatever matches.
///
/// The status pages (`pages`) also take the token from the cookie their sign-in form sets, and
/// answer a missing or unknown token with that form (still 401), not with JSON. On an audited
/// route the scope is checked by the audit wrapper instead, so that a refusal is audited too.
struct BearerAuth: RouterMiddleware {
    typealias Context = AdminContext
    let route: AdminAPI.Route
    let tokens: @Sendable () -> [AdminToken]
    var pages = false

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let presented = Self.bearer(request) ?? (pages ? StatusCookie.value(in: request) : nil)
        guard let token = presented.flatMap({ Self.token($0, tokens()) }) else {
            if pages { return StatusCookie.loginPage(status: .unauthorized, message: nil) }
            throw APIError.unauthorized
        }
        var context = context
        context.token = token
        if !route.audited { try Self.authorize(token, for: route) }
        return try await next(request, context)
    }

    /// 403 unless `token` may use `route`.
    static func authorize(_ token: AdminToken, for route: AdminAPI.Route) throws {
        guard token.scope == .admin || route.scope != .admin else { throw APIError.forbidden }
        guard token.devices == nil || !route.relayWide else {
            throw APIError(.forbidden, "forbidden", "a token limited to devices cannot use this route")
        }
    }

    /// The request's bearer token, if it sends one.
    static func bearer(_ request: Request) -> Substring? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else { return nil }
        return parts[1]
    }

    /// The configured token `presented` hashes to.
    static func token(_ presented: some StringProtocol, _ tokens: [AdminToken]) -> AdminToken? {
        let hash = AdminToken.hash(of: presented)
        var found: AdminToken?
        for t in tokens where STUNCrypto.constantTimeEqual(t.sha256, hash) { found = t }
        return found
    }
}

/// The status pages' sign-in: a token entered once in a form, kept by the browser in an
/// HttpOnly, SameSite=Strict cookie scoped to `/status` (Secure when the admin API speaks HTTPS).
enum StatusCookie {
    static let name = "av1relay_status"
    /// Twelve hours: a working day at the admin tool.
    static let maxAge = 12 * 3600

    static func value(in request: Request) -> Substring? {
        guard let header = request.headers[.cookie] else { return nil }
        for pair in header.split(separator: ";") {
            let kv = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0] == name, !kv[1].isEmpty { return Substring(kv[1]) }
        }
        return nil
    }

    static func setting(_ token: String, secure: Bool) -> String {
        "\(name)=\(token); Path=/status; Max-Age=\(maxAge); HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }

    static func clearing(secure: Bool) -> String {
        "\(name)=; Path=/status; Max-Age=0; HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }

    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let noSniff = HTTPField.Name("X-Content-Type-Options")!

    /// What every status page answer carries: no caching, no referrer, nothing but inline style.
    static func headers(_ headers: inout HTTPFields) {
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'"
        headers[referrerPolicy] = "same-origin"
        headers[noSniff] = "nosniff"
    }

    static func page(_ html: String, status: HTTPResponse.Status = .ok, extra: HTTPFields = [:]) -> Response {
        var headers = extra
        Self.headers(&headers)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static func loginPage(status: HTTPResponse.Status, message: String?) -> Response {
        var extra = HTTPFields()
        if status == .unauthorized { extra[.wwwAuthenticate] = "Bearer realm=\"av1relay\"" }
        return page(StatusPages.login(message: message), status: status, extra: extra)
    }

    static func redirect(to path: String, cookie: String) -> Response {
        var headers = HTTPFields()
        headers[.location] = path
        headers[.setCookie] = cookie
        Self.headers(&headers)
        return Response(status: .seeOther, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "")))
    }
}
