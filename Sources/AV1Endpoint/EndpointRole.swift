/// Which end of a call.
public enum EndpointRole: String, Sendable, Codable {
    /// Sends VP8 video and Opus audio; DTLS server; ICE controlled; attaches link telemetry.
    case robot
    /// Sends Opus audio; DTLS client; ICE controlling.
    case app
}
