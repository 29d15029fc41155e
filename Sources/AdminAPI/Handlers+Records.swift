import Foundation
import HTTPTypes
import Hummingbird
import Logging
import RelayServer
import SessionStore
import Sessions
import Synchronization

/// What an audited handler noted while it answered: the device it was about and how many
/// records it answered with.
final class AuditNote: Sendable {
    private let state = Mutex<(device: String?, records: Int)>((nil, 0))

    var device: String? {
        get { state.withLock { $0.device } }
        set { state.withLock { $0.device = newValue } }
    }
    var records: Int {
        get { state.withLock { $0.records } }
        set { state.withLock { $0.records = newValue } }
    }
}

/// The audit trail and usage: the accountability routes (issue 15).
extension Handlers {
    /// `handler` with its audit entry: after it answers (or fails), one entry — the token's name,
    /// the route, the device, how many records, the outcome (`ok` or the error's code) — is
    /// appended to the trail. An answer leaves only once its entry is written: one the trail
    /// cannot record is answered 503 `audit_unavailable` instead (an error answer goes out as it
    /// is, and the log says its entry is missing).
    func audited(_ route: AdminAPI.Route, logger: Logger, _ handler: @escaping AdminAPI.AuditedHandler) -> AdminAPI.Handler {
        let server = server
        return { request, context in
            let note = AuditNote()
            var outcome = "ok"
            var answer: Result<Response, any Error>
            do {
                if let token = context.token { try BearerAuth.authorize(token, for: route) }
                answer = .success(try await handler(request, context, note))
            } catch {
                answer = .failure(error)
                switch error {
                case let error as APIError: outcome = error.code
                case let error as HTTPResponseError: outcome = APIError.code(for: error.status)
                default: outcome = "internal"
                }
            }
            let entry = AuditEntry(
                at: SessionRecord.timestamp(Date()), actor: context.token?.name ?? "", action: route.description, device: note.device,
                records: outcome == "ok" ? note.records : 0, outcome: outcome)
            let trail = server.recordKeeper().trail
            do {
                _ = try await Self.blocking { try trail.append(entry) }
            } catch {
                logger.error("admin API: audit entry not written", metadata: ["reason": "\(error)", "outcome": "\(outcome)"])
                // A refusal discloses nothing: it goes out as it is. An answer with data does not.
                if case .success = answer {
                    throw APIError(.serviceUnavailable, "audit_unavailable", "the audit trail cannot be written now; try again")
                }
            }
            return try answer.get()
        }
    }

    /// `from` and `to` of a period (both required, `from` before `to`) and `groupBy` if given.
    static func period(_ request: Request, groupings: [UsageTally.Grouping]) throws -> (Date, Date, UsageTally.Grouping?) {
        guard let from = try time(request, "from"), let to = try time(request, "to"),
            let start = UsageTally.date(from), let end = UsageTally.date(to), start < end
        else {
            throw APIError.badRequest("invalid_period", "usage needs 'from' and 'to', RFC 3339 date-times with 'from' before 'to'")
        }
        var grouping: UsageTally.Grouping?
        if let text = request.uri.queryParameters.get("groupBy") {
            guard let g = UsageTally.Grouping(rawValue: String(text)), groupings.contains(g) else {
                throw APIError.badRequest(
                    "invalid_group_by", "'groupBy' is one of \(groupings.map(\.rawValue).joined(separator: ", "))")
            }
            grouping = g
        }
        return (start, end, grouping)
    }

    /// The report as JSON, or as CSV when the client asks for `text/csv`.
    static func usageAnswer(_ report: UsageReport, _ request: Request) throws -> Response {
        guard request.headers[.accept]?.contains("text/csv") == true else { return try AdminAPI.json(report) }
        var headers = HTTPFields()
        headers[.contentType] = "text/csv; charset=utf-8; header=present"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: report.csv)))
    }

    /// The store's sessions in the period (every device, or one), counted by what the token covers.
    func tally(_ request: Request, _ context: AdminContext, device: String?, groupings: [UsageTally.Grouping]) async throws
        -> UsageReport
    {
        let (from, to, grouping) = try Self.period(request, groupings: groupings)
        let store = try storeOrFail()
        let token = context.token
        return try await stored {
            try UsageTally.report(store, from: from, to: to, grouping: grouping, device: device) { token?.allows(device: $0) ?? true }
        }
    }

    func usage(_ request: Request, _ context: AdminContext, _ note: AuditNote) async throws -> Response {
        let report = try await tally(request, context, device: nil, groupings: UsageTally.Grouping.allCases)
        note.records = report.records
        return try Self.usageAnswer(report, request)
    }

    func deviceUsage(_ request: Request, _ context: AdminContext, _ note: AuditNote) async throws -> Response {
        let id = try Self.deviceID(context, note)
        let report = try await tally(request, context, device: id, groupings: [.day, .month])
        note.records = report.records
        return try Self.usageAnswer(report, request)
    }

    /// `GET /v1/audit?from=&to=&device=&limit=&cursor=`: entries oldest first, a page at a time.
    func auditTrail(_ request: Request, _: AdminContext, _ note: AuditNote) async throws -> Response {
        let query = request.uri.queryParameters
        let limit = try Self.limit(request, default: 1000, max: 10_000)
        var after: Int?
        if let text = query.get("cursor") {
            guard let n = Int(text), n >= 0 else { throw APIError.badRequest("invalid_cursor", "'cursor' is not one this API gave") }
            after = n
        }
        var device: String?
        if let text = query.get("device") {
            device = try Self.validDeviceID(text)
            note.device = device
        }
        let q = AuditQuery(
            from: try Self.time(request, "from"), to: try Self.time(request, "to"), device: device, after: after, limit: limit + 1)
        let trail = server.recordKeeper().trail
        let fetched = try await stored { try trail.auditEntries(q) }
        let entries = Array(fetched.prefix(limit))
        note.records = entries.count
        return try AdminAPI.json(AuditList(entries: entries, nextCursor: fetched.count > limit ? entries.last.map { "\($0.id)" } : nil))
    }

    /// `GET /v1/audit/verify`: the whole trail's chain checked.
    func auditVerify(_: Request, _: AdminContext, _ note: AuditNote) async throws -> Response {
        let trail = server.recordKeeper().trail
        let verification = try await stored { AuditChain.verify(try trail.auditEntries(.all)) }
        note.records = verification.entries
        return try AdminAPI.json(verification)
    }
}

/// A page of audit entries and where the next one starts.
struct AuditList: Encodable {
    var entries: [AuditEntry]
    var nextCursor: String?

    enum CodingKeys: String, CodingKey {
        case entries, nextCursor = "next_cursor"
    }
}
