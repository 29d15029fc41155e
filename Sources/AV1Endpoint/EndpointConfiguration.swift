import AV1Media
import STUN

/// How one endpoint runs its call: which end it is, the relay and its credentials, the media it
/// sends and the impairment applied to it.
public struct EndpointConfiguration: Sendable {
    public var role: EndpointRole
    /// The TURN relay.
    public var relay: TransportAddress
    /// How the endpoint reaches the relay.
    public var transport: RelayTransport = .udp
    /// Over TLS: how the relay's certificate is checked.
    public var tls = TLSVerification()
    /// The long-term credential's username for the relay (static, or a TURN REST username).
    public var username: String
    /// Its password.
    public var password: String
    /// Seconds of media, after ICE and DTLS.
    public var duration: Double = 10
    /// The robot's VP8 video: picture width and height in pixels, frames a second, and target
    /// bitrate in kbit/s.
    public var width = 640
    public var height = 480
    public var fps = 15
    public var videoKbps = 800
    /// What is done to this end's media packets before they go to the relay.
    public var impairment = Impairment()
    /// The link the robot reports in its telemetry attribute.
    public var signal: SignalProfile = .classroomWiFi
    /// SRTP profiles offered (app) or accepted (robot), preferred first.
    public var srtpProfiles: [SRTPProfile] = [.aeadAes128Gcm, .aes128CmHmacSha1_80]
    /// How many 300 Try Alternate redirects to follow (0: none). A server is never visited twice,
    /// so two relays that disagree about a home cannot bounce the endpoint forever.
    public var maxRedirects = 3
    /// Behave like a client that does not understand 300 (pion's): ask the same relay again.
    public var ignoreRedirects = false
    /// RFC 8016 mobility: seconds into the call at which this end moves to a new local address
    /// (`roamTo`, or a new port on its address) and takes its allocation along; nil: it stays.
    public var roamAt: Double?
    public var roamTo: IPAddress?
    /// Seconds between Refresh requests carrying link telemetry (robot) or plain refreshes (app).
    public var refreshInterval = 5.0

    public init(role: EndpointRole, relay: TransportAddress, username: String, password: String) {
        self.role = role
        self.relay = relay
        self.username = username
        self.password = password
    }
}
