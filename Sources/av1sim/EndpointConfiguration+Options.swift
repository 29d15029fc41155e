import AV1Endpoint
import STUN

extension EndpointConfiguration {
    /// One end's configuration from the command line.
    init(_ role: EndpointRole, device: String, relay: RelayOptions, call: CallOptions, impairment: ImpairmentOptions) {
        let (username, password) = relay.credentials(role, device: device, duration: call.duration)
        self.init(role: role, relay: role == .app ? relay.appRelay ?? relay.relay : relay.relay, username: username, password: password)
        maxRedirects = relay.maxRedirects
        ignoreRedirects = relay.ignoreRedirects
        transport = relay.transport
        tls = TLSVerification(caFile: relay.tlsCA, insecure: relay.tlsInsecure, serverName: relay.tlsName)
        duration = call.duration
        self.impairment = impairment.impairment
        signal = call.signal
        srtpProfiles = call.srtpProfiles
        width = call.width
        height = call.height
        fps = call.fps
        videoKbps = call.videoKbps
        if role == .robot {
            roamAt = call.roamAt
            roamTo = call.roamTo.flatMap { IPAddress($0) }
        }
    }
}
