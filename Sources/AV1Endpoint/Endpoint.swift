import AV1Media
import CAV1Shim
import Foundation
import STUN

/// One robot or app: allocates on the relay, finds its peer through it, runs DTLS-SRTP and sends
/// and receives real Opus and VP8, measuring what arrives.
///
/// One thread runs it from start to end: `call()` is its event loop. The work of each concern is
/// in an extension of its own: ICE checks (`Endpoint+ICE`), DTLS-SRTP (`Endpoint+DTLSSRTP`),
/// media (`Endpoint+Media`), RTCP (`Endpoint+RTCP`), the plaintext canary (`Endpoint+Canary`)
/// and the report (`Endpoint+Report`).
public final class Endpoint {
    let config: EndpointConfiguration
    let exchange: PeerExchange
    let ufrag = randomToken(8)
    let icePassword = randomToken(24)
    var report: EndpointReport

    // Wire
    var connection: RelayConnection!
    var turn: TURNClient!
    var peer: PeerInfo?

    // ICE (RFC 8445 connectivity checks, RFC 7675 consent), through the relay
    var iceConnected = false
    var checks: [TransactionID: Double] = [:]
    var rtts: [Double] = []

    // DTLS-SRTP
    var dtls: DTLSSession!
    var srtpOut: SRTPSession?
    var srtpIn: SRTPSession?
    var profile: SRTPProfile?

    // Media
    var opus: OpusCodec!
    var vp8Encoder: VP8Encoder?
    var vp8Decoder: VP8Decoder?
    var depacketizer = VP8Payload.Depacketizer()
    var audioSSRC = UInt32.random(in: 1...UInt32.max)
    var videoSSRC = UInt32.random(in: 1...UInt32.max)
    var audioSequence = UInt16.random(in: 0...UInt16.max)
    var videoSequence = UInt16.random(in: 0...UInt16.max)
    var audioFrame = 0
    var videoFrame = 0
    var remoteAudioSSRC: UInt32 = 0
    var remoteVideoSSRC: UInt32 = 0
    var audioIn = StreamStats(clockRate: 48_000)
    var videoIn = StreamStats(clockRate: 90_000)
    /// PLI (RFC 4585 §6.3.1): the app asks for a keyframe after a video frame was lost or failed
    /// to decode; the robot encodes the next frame as one.
    var keyframeRequested = false
    var lastPLI = 0.0
    /// Impairment of this end's media on its way to the relay.
    var link: ImpairedLink

    // What the sender reports count (RFC 3550 §6.4.1: payload octets, not headers)
    var audioOctets = 0
    var videoOctets = 0
    var videoPackets = 0

    /// The canary has its own payload type and SSRC, so it does not disturb the audio loss count.
    var canarySSRC = UInt32.random(in: 1...UInt32.max)
    var canarySequence: UInt16 = 0

    public init(_ config: EndpointConfiguration, exchange: PeerExchange) {
        self.config = config
        self.exchange = exchange
        link = ImpairedLink(config.impairment)
        report = EndpointReport(role: config.role, transport: config.transport.rawValue)
    }

    /// Runs the call for its duration; returns what it measured.
    public func run() -> EndpointReport {
        do {
            try setUp()
            try call()
        } catch {
            report.error = "\(error)"
        }
        if let turn { try? turn.refresh(lifetime: 0) }
        finishReport()
        return report
    }

    /// Seconds on the monotonic clock (CLOCK_MONOTONIC, one clock for every process on the host,
    /// so send times in payloads compare across a robot and an app run apart). The call's schedule,
    /// its end, `--roam-at` and measured delays must not move when the wall clock is stepped: on
    /// the wall clock a step forward ended a call early, before its roam.
    static func now() -> Double { Double(av1_monotonic_us()) / 1_000_000 }

    /// Codecs and DTLS, an allocation on the relay, signalling with the peer, and a channel to it.
    func setUp() throws {
        guard let dtls = DTLSSession(role: config.role == .app ? .client : .server, profiles: config.srtpProfiles), let opus = OpusCodec()
        else {
            throw EndpointError("cannot create DTLS or Opus")
        }
        self.dtls = dtls
        self.opus = opus
        if config.role == .robot {
            guard let e = VP8Encoder(width: config.width, height: config.height, fps: config.fps, bitrateKbps: config.videoKbps) else {
                throw EndpointError("cannot create the VP8 encoder")
            }
            vp8Encoder = e
        } else {
            vp8Decoder = VP8Decoder()
        }
        try allocateFollowingRedirects()
        guard let relayed = turn.relayed else { throw EndpointError("no relayed address") }
        report.relayedFamily = relayed.family == .ipv4 ? "ipv4" : "ipv6"
        exchange.publish(
            config.role, PeerInfo(relayed: "\(relayed)", ufrag: ufrag, password: icePassword, fingerprint: dtls.localFingerprint))
        guard let peer = exchange.awaitPeer(of: config.role, timeout: 30), let peerAddress = TransportAddress(peer.relayed) else {
            throw EndpointError("the other endpoint did not show up")
        }
        self.peer = peer
        try turn.bind(peer: peerAddress)
    }

    /// The event loop: checks, the DTLS handshake, media, RTCP and refreshes on their schedules,
    /// and whatever the relay delivers in between.
    func call() throws {
        let start = Self.now()
        let end = start + config.duration
        var nextCheck = start
        var nextAudio = start
        var nextVideo = start
        var nextCanary = start
        var nextRTCP = start + 1
        var nextRefresh = start + 0.5
        var dtlsStarted = false
        for m in turn.takeBacklog() { handle(m) }
        while Self.now() < end {
            let now = Self.now()
            if now >= nextCheck {
                sendCheck()
                nextCheck = now + (iceConnected ? 5 : 0.1)  // consent freshness every 5 s once connected
            }
            if iceConnected && config.role == .app && !dtlsStarted {
                dtlsStarted = true
                send(dtls.advance())
            }
            if let t = dtls.retransmitIn, t == 0 { send(dtls.handleTimeout()) }
            if srtpOut != nil {
                if now >= nextAudio {
                    sendAudio()
                    nextAudio += 0.02
                }
                if config.role == .robot && now >= nextVideo {
                    sendVideo()
                    nextVideo += 1 / Double(config.fps)
                }
                if now >= nextCanary {
                    sendCanary()
                    nextCanary = now + 1
                }
                if now >= nextRTCP {
                    sendRTCP()
                    nextRTCP = now + 1
                }
            }
            if let at = config.roamAt, report.roam == nil, now >= start + at { try roam(at: now - start) }
            if now >= nextRefresh {
                try refresh()
                nextRefresh = now + config.refreshInterval
                for m in turn.takeBacklog() { handle(m) }
            }
            flushDelayed(now: now)
            let wait = max(1, min(10, Int32(1000 * (min(nextAudio, nextCheck, end) - Self.now()))))
            while let m = try connection.receive(timeoutMillis: wait) {
                handle(m)
                if Self.now() >= min(nextAudio, nextCheck) { break }
            }
        }
        // No new media: let what impairment still holds go out, and what is in flight arrive.
        let grace = Self.now() + 0.3 + (config.impairment.delayMillis + config.impairment.jitterMillis) / 1000
        while Self.now() < grace {
            flushDelayed(now: Self.now())
            if let m = try connection.receive(timeoutMillis: 10) { handle(m) }
        }
    }

    /// RFC 8016: a new local address (Wi-Fi to 4G), the allocation taken along with its ticket.
    /// The peer sees nothing change: the relayed address is the same.
    func roam(at seconds: Double) throws {
        let before = connection.localAddress
        let fresh = try RelayConnection(to: connection.server, transport: config.transport, tls: config.tls, from: roamTarget(before))
        let millis = try turn.roam(to: fresh)
        connection = fresh
        report.roam = RoamReport(
            atSeconds: seconds, from: before.map { "\($0)" } ?? "?", to: fresh.localAddress.map { "\($0)" } ?? "?", refreshMillis: millis)
        for m in turn.takeBacklog() { handle(m) }
    }

    /// `roamTo`, or from 127.0.0.1 the next loopback address (another "network" on one host), or
    /// the same address with a new port (a new 5-tuple all the same).
    func roamTarget(_ current: TransportAddress?) -> IPAddress? {
        if let to = config.roamTo { return to }
        guard let current else { return nil }
        if case .v4(let v) = current.ip, v >> 24 == 127 { return .v4(v &+ 1) }
        return current.ip
    }

    /// Keeps the allocation alive (RFC 8656 §7); the robot's refreshes carry its link telemetry.
    func refresh() throws {
        if config.role == .robot {
            let t = config.signal.sample(at: Self.now())
            try turn.refresh(lifetime: 600) { $0.append(LinkTelemetry.attribute, t.encoded) }
            report.telemetrySent += 1
        } else {
            try turn.refresh(lifetime: 600)
        }
    }

    // MARK: Sending

    /// A datagram to the peer through the relay, impaired when it is media.
    func send(_ datagrams: [[UInt8]], media: Bool = false) {
        for d in datagrams {
            report.bytesToRelay += d.count
            let fate = media ? link.admit(d, now: Self.now()) : .sendNow
            switch fate {
            case .dropped: report.impairedDrops += 1
            case .held: break
            case .sendNow: try? connection.send(turn.wrap(d))
            }
        }
    }

    /// Sends the media that impairment held and that is now due.
    func flushDelayed(now: Double) {
        for d in link.release(now: now) { try? connection.send(turn.wrap(d)) }
    }

    // MARK: Receiving

    /// One message from the relay: the peer's datagram inside it, told apart by its first byte
    /// (RFC 7983 §7: STUN 0–3, DTLS 20–63, RTP and RTCP 128–191).
    func handle(_ message: [UInt8]) {
        guard let datagram = turn.unwrap(message), let first = datagram.first else { return }
        report.bytesFromRelay += message.count
        if message.contains(plaintextCanary) { report.canaryVisibleOnWire = true }
        switch first {
        case 0...3: handleSTUN(datagram)
        case 20...63: handleDTLS(datagram)
        case 128...191: handleSRTP(datagram)
        default: report.unknownDatagrams += 1
        }
    }
}

extension Endpoint {
    /// Allocates on the configured relay, following 300 Try Alternate to the device's home relay
    /// (DESIGN §8) up to `maxRedirects` times and never to a relay already tried; authenticates
    /// afresh at each (a nonce belongs to one server).
    func allocateFollowingRedirects() throws {
        var server = config.relay
        var tried: [TransportAddress] = []
        while true {
            connection = try RelayConnection(to: server, transport: config.transport, tls: config.tls)
            turn = TURNClient(connection: connection, username: config.username, password: config.password)
            do {
                try turn.allocate(mobility: config.roamAt != nil)
                report.relay = "\(server)"
                report.passwordAlgorithm = turn.algorithm == .sha256 ? "SHA-256" : "MD5"
                if config.transport == .tls { report.tlsVerified = !config.tls.insecure }
                return
            } catch let redirect as TURNClient.Redirect where config.ignoreRedirects {
                // Once, as a client that does not follow would retry; the relay then serves it.
                guard !tried.contains(server) else { throw EndpointError("\(redirect) again; not following") }
                tried.append(server)
                report.redirects.append("ignored \(redirect.server)")
            } catch let redirect as TURNClient.Redirect {
                tried.append(server)
                guard tried.count <= config.maxRedirects else {
                    throw EndpointError("redirected \(tried.count) times (limit \(config.maxRedirects)): \(redirect)")
                }
                guard !tried.contains(redirect.server) else {
                    throw EndpointError("relays disagree: \(redirect), which was tried already")
                }
                report.redirects.append("\(redirect.server)")
                server = redirect.server
            }
        }
    }
}
