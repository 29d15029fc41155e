import Foundation
import Hummingbird
import Logging

/// An error answer of the admin API: `{"error": {"code": "...", "message": "..."}}`, the code
/// stable (clients branch on it), the message for people. Never names an address, a username or
/// a secret.
public struct APIError: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    static func badRequest(_ code: String, _ message: String) -> APIError { APIError(.badRequest, code, message) }
    static let unauthorized = APIError(.unauthorized, "unauthorized", "a bearer token is required")
    static let forbidden = APIError(.forbidden, "forbidden", "this token's scope does not allow this")
    static func notFound(_ message: String) -> APIError { APIError(.notFound, "not_found", message) }

    /// The stable code for a status the framework produced (an unknown path, a wrong method).
    static func code(for status: HTTPResponse.Status) -> String {
        switch status.code {
        case 400: "bad_request"
        case 401: "unauthorized"
        case 403: "forbidden"
        case 404: "not_found"
        case 405: "method_not_allowed"
        case 413: "payload_too_large"
        case 503: "unavailable"
        case 500...: "internal"
        default: "error"
        }
    }

    struct Body: Encodable {
        struct Detail: Encodable {
            var code: String
            var message: String
        }
        var error: Detail
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"av1relay\"" }
        let data = try AdminAPI.encoder.encode(Body(error: .init(code: code, message: message)))
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Every error leaves as an `APIError`: the framework's own (unknown path, wrong method, a body
/// that does not decode) with the code for its status, anything else as 500 `internal` with no
/// detail (the log has it).
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return try error.response(from: request, context: context)
        } catch let error as HTTPResponseError {
            let message = error.status.code == 404 ? "no such route" : error.status.reasonPhrase
            return try APIError(error.status, APIError.code(for: error.status), message).response(from: request, context: context)
        } catch {
            logger.error("admin API: request failed", metadata: ["reason": "\(error)"])
            return try APIError(.internalServerError, "internal", "the request failed; the relay's log says why")
                .response(from: request, context: context)
        }
    }
}
