import Foundation
import Hummingbird
import RelayServer
import STUN

/// `Authorization: Bearer TOKEN`, checked against the configuration's token hashes as they are
/// now (a reload changes them at once): 401 without a known token, 403 when its scope is below
/// the route's. The hash compare takes the same time whatever matches.
struct BearerAuth<Context: RequestContext>: RouterMiddleware {
    let scope: AdminToken.Scope
    let tokens: @Sendable () -> [AdminToken]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token = Self.token(request, tokens()) else { throw APIError.unauthorized }
        guard token.scope == .admin || scope == .read else { throw APIError.forbidden }
        return try await next(request, context)
    }

    /// The configured token the request's bearer token hashes to.
    static func token(_ request: Request, _ tokens: [AdminToken]) -> AdminToken? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else { return nil }
        let hash = AdminToken.hash(of: parts[1])
        var found: AdminToken?
        for t in tokens where STUNCrypto.constantTimeEqual(t.sha256, hash) { found = t }
        return found
    }
}
