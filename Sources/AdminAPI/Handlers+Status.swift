import Foundation
import HTTPTypes
import Hummingbird
import RelayServer
import SessionStore
import Sessions

/// The status pages' routes: what `StatusPages` renders, gathered from the relay and the store.
extension Handlers {
    /// How many stored sessions a device's page lists.
    static let recentSessions = 10

    /// A token limited to devices sees only those devices and their sessions, not the relay's
    /// own figures (allocations, refusals).
    func statusOverview(_: Request, _ context: AdminContext, _ note: AuditNote) async throws -> Response {
        let server = server
        // The workers' counters: a wait for each, off the cooperative pool.
        let (allocations, refusals) = try await Self.blocking {
            let now = server.snapshot()
            return (now.allocations, server.refusalsLastHour(now.events))
        }
        let covers = { (id: String) in context.token?.allows(device: id) ?? true }
        let limited = context.token?.devices != nil
        let sessions = server.liveSessions().filter { covers($0.deviceID) }
        note.records = sessions.count
        let inCall = Set(sessions.map(\.deviceID))
        let devices = server.onlineDevices().filter { covers($0.key) }.map { id, sides in
            StatusPages.Overview.Device(id: id, robot: sides.robot, app: sides.app, inCall: inCall.contains(id))
        }
        let overview = StatusPages.Overview(
            version: RelayVersion.current, draining: server.isDraining, devices: devices.sorted { $0.id < $1.id }, sessions: sessions,
            allocations: limited ? nil : allocations, refusals: limited ? nil : refusals, now: Date())
        return StatusCookie.page(StatusPages.overview(overview))
    }

    func statusDevice(_: Request, _ context: AdminContext, _ audit: AuditNote) async throws -> Response {
        let id = try Self.deviceID(context, audit)
        let live = server.live(device: id)
        var recent: [SessionRecord] = []
        var note: String?
        if let store {
            do {
                recent = try await Self.blocking { try store.lastFinals(device: id, limit: Self.recentSessions) }
            } catch {
                note = "The session store cannot be read now."
            }
        } else {
            note = "This relay keeps no session store (session-store none)."
        }
        let seen = [live.lastActivity, live.session?.end, recent.first?.end].compactMap { $0 }.max()
        audit.records = recent.count + (live.session == nil ? 0 : 1)
        let page = StatusPages.Device(id: id, live: live, recent: recent, storeNote: note, lastSeen: seen, now: Date())
        return StatusCookie.page(StatusPages.device(page))
    }

    /// The sign-in form's post: a known token is kept in the cookie and the browser goes to
    /// `/status`; anything else gets the form again (401). A post from another site's page is
    /// refused (403): its `Origin` must be this listener's.
    func statusLogin(_ request: Request, _ context: AdminContext, tokens: [AdminToken]) async throws -> Response {
        if Self.crossSite(request) { return StatusCookie.loginPage(status: .forbidden, message: "Sign in from this relay's own page.") }
        let body = try await request.body.collect(upTo: 4096)
        let form = String(buffer: body)
        let token = form.split(separator: "&").compactMap { pair -> String? in
            let kv = pair.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, kv[0] == "token" else { return nil }
            return String(kv[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
        }.first?.trimmingCharacters(in: .whitespaces)
        guard let token, !token.isEmpty, BearerAuth.token(token, tokens) != nil,
            token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != 0x3B })  // a cookie value
        else {
            return StatusCookie.loginPage(status: .unauthorized, message: "That is not a token this relay knows.")
        }
        return StatusCookie.redirect(to: "/status", cookie: StatusCookie.setting(token, secure: secure))
    }

    /// A browser's post from another site's page: `Sec-Fetch-Site` says so, or `Origin` names
    /// another host than the one asked (curl and other tools send neither).
    static func crossSite(_ request: Request) -> Bool {
        if let site = request.headers[secFetchSite], site != "same-origin", site != "none" { return true }
        guard let origin = request.headers[.origin], origin != "null" else { return false }
        guard let host = request.head.authority, let originHost = URL(string: origin)?.host else { return true }
        return !(host == originHost || host.hasPrefix(originHost + ":") || host.hasPrefix("[" + originHost + "]"))
    }

    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!

    func statusLogout(_: Request, _: AdminContext) async throws -> Response {
        StatusCookie.redirect(to: "/status", cookie: StatusCookie.clearing(secure: secure))
    }
}
