import AV1Endpoint
import AV1Media
import ArgumentParser
import STUN

/// How long the call lasts and what media goes over it.
struct CallOptions: ParsableArguments {
    /// `--srtp`: the SRTP profiles offered, when only one of the two is wanted.
    enum SRTPChoice: String, CaseIterable, ExpressibleByArgument {
        case gcm
        case aesCm = "aes-cm"

        var profiles: [SRTPProfile] { self == .gcm ? [.aeadAes128Gcm] : [.aes128CmHmacSha1_80] }
    }

    @Option(help: ArgumentHelp("Length of the call.", valueName: "seconds"))
    var duration = 10.0

    @Option(help: ArgumentHelp("The robot's VP8 picture width.", valueName: "pixels"))
    var width = 640

    @Option(help: ArgumentHelp("The robot's VP8 picture height.", valueName: "pixels"))
    var height = 480

    @Option(help: ArgumentHelp("The robot's video frames per second.", valueName: "n"))
    var fps = 15

    @Option(help: ArgumentHelp("The robot's VP8 target bitrate, in kbit/s.", valueName: "n"))
    var videoKbps = 800

    @Option(help: ArgumentHelp("The link the robot's telemetry describes.", valueName: "profile"))
    var signal: SignalProfile = .classroomWiFi

    @Option(
        help: ArgumentHelp(
            "Offer only AEAD_AES_128_GCM (gcm) or AES_CM_128_HMAC_SHA1_80 (aes-cm); without it both are offered, GCM first.",
            valueName: "profile"))
    var srtp: SRTPChoice?

    @Option(
        help: ArgumentHelp(
            "RFC 8016 mobility: the robot moves to a new local address this far into the call and takes its allocation along (asks the relay for a MOBILITY-TICKET).",
            valueName: "seconds"))
    var roamAt: Double?

    @Option(
        help: ArgumentHelp(
            "With --roam-at: the address the robot moves to (default: from 127.0.0.1 the next loopback address, otherwise a new port).",
            valueName: "ip"))
    var roamTo: String?

    func validate() throws {
        if let roamAt, !(roamAt > 0 && roamAt < duration) {
            throw ValidationError("--roam-at: after the start and before the end of --duration")
        }
        if let roamTo, IPAddress(roamTo) == nil { throw ValidationError("--roam-to: '\(roamTo)' is not an IP address") }
        if roamTo != nil && roamAt == nil { throw ValidationError("--roam-to needs --roam-at") }
        try (1...86_400).validate(duration, flag: "duration")
        try (16...1920).validate(width, flag: "width")
        try (16...1080).validate(height, flag: "height")
        try (1...60).validate(fps, flag: "fps")
        try (50...20_000).validate(videoKbps, flag: "video-kbps")
    }

    var srtpProfiles: [SRTPProfile] { srtp?.profiles ?? [.aeadAes128Gcm, .aes128CmHmacSha1_80] }
}
