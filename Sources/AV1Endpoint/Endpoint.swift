import AV1Media
import Foundation
import STUN

/// Which end of a call.
public enum EndpointRole: String, Sendable, Codable {
    /// Sends VP8 video and Opus audio; DTLS server; ICE controlled; attaches link telemetry.
    case robot
    /// Sends Opus audio; DTLS client; ICE controlling.
    case app
}

/// What an endpoint tells the other through signalling (here: memory or a file).
public struct PeerInfo: Codable, Sendable, Equatable {
    public var relayed: String
    public var ufrag: String
    public var password: String
    public var fingerprint: String
}

/// Send-side impairment, so what the relay measures can be checked against what was done.
public struct Impairment: Sendable, Codable {
    public var loss = 0.0
    public var delayMillis = 0.0
    public var jitterMillis = 0.0
    public init(loss: Double = 0, delayMillis: Double = 0, jitterMillis: Double = 0) {
        self.loss = loss
        self.delayMillis = delayMillis
        self.jitterMillis = jitterMillis
    }
}

public struct EndpointConfiguration: Sendable {
    public var role: EndpointRole
    public var relay: TransportAddress
    public var transport: RelayTransport = .udp
    public var username: String
    public var password: String
    public var duration: Double = 10
    public var width = 640
    public var height = 480
    public var fps = 15
    public var videoKbps = 800
    public var impairment = Impairment()
    public var signal: SignalProfile = .classroomWiFi
    /// SRTP profiles offered (app) or accepted (robot), preferred first.
    public var srtpProfiles: [SRTPProfile] = [.aeadAes128Gcm, .aes128CmHmacSha1_80]
    /// Seconds between Refresh requests carrying link telemetry (robot) or plain refreshes (app).
    public var refreshInterval = 5.0

    public init(role: EndpointRole, relay: TransportAddress, username: String, password: String) {
        self.role = role
        self.relay = relay
        self.username = username
        self.password = password
    }
}

/// A marker the endpoints put inside media payloads once a second. Receivers count it after
/// decryption; it must never be visible in what the relay forwards.
public let plaintextCanary = Array("AV1SIM-PLAINTEXT-CANARY-7f3a9c".utf8)

/// One robot or app: allocates on the relay, finds its peer through it, runs DTLS-SRTP and sends
/// and receives real Opus and VP8, measuring what arrives.
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
    var delayed: [(due: Double, bytes: [UInt8])] = []
    /// PLI (RFC 4585 §6.3.1): the app asks for a keyframe after a video frame was lost or failed
    /// to decode; the robot encodes the next frame as one.
    var keyframeRequested = false
    var lastPLI = 0.0
    var rng = SystemRandomNumberGenerator()

    public init(_ config: EndpointConfiguration, exchange: PeerExchange) {
        self.config = config
        self.exchange = exchange
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

    static func now() -> Double { Date().timeIntervalSince1970 }

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
        connection = try RelayConnection(to: config.relay, transport: config.transport)
        turn = TURNClient(connection: connection, username: config.username, password: config.password)
        try turn.allocate()
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

    // MARK: Sending

    /// A datagram to the peer through the relay, impaired when it is media.
    func send(_ datagrams: [[UInt8]], media: Bool = false) {
        for d in datagrams {
            report.bytesToRelay += d.count
            if media && config.impairment.loss > 0 && Double.random(in: 0..<1, using: &rng) < config.impairment.loss {
                report.impairedDrops += 1
                continue
            }
            if media && (config.impairment.delayMillis > 0 || config.impairment.jitterMillis > 0) {
                // Delay plus a random extra up to the jitter, in order: a jittery link that does not
                // reorder (a receiver's loss figures then mean loss, not reordering).
                let extra = config.impairment.delayMillis + Double.random(in: 0...max(0, config.impairment.jitterMillis), using: &rng)
                let due = max(Self.now() + extra / 1000, delayed.last?.due ?? 0)
                delayed.append((due, d))
                continue
            }
            try? connection.send(turn.wrap(d))
        }
    }

    func flushDelayed(now: Double) {
        guard !delayed.isEmpty else { return }
        let due = delayed.filter { $0.due <= now }
        delayed.removeAll { $0.due <= now }
        for d in due { try? connection.send(turn.wrap(d.bytes)) }
    }

    func sendCheck() {
        guard let peer else { return }
        var b = STUNMessageBuilder(method: .binding, class: .request, transactionID: .random())
        b.append(.username, text: "\(peer.ufrag):\(ufrag)")
        b.append(.priority, uint32: 0x7E00_01FF)
        let tieBreaker = (0..<8).map { _ in UInt8.random(in: 0...255) }
        b.append(config.role == .app ? .iceControlling : .iceControlled, tieBreaker)
        b.appendMessageIntegrity(key: Array(peer.password.utf8))
        b.appendFingerprint()
        checks[b.transactionID] = Self.now()
        report.iceChecksSent += 1
        send([b.bytes])
    }

    func rtp(_ payloadType: UInt8, marker: Bool, sequence: inout UInt16, timestamp: UInt32, ssrc: UInt32, payload: [UInt8]) -> [UInt8] {
        defer { sequence &+= 1 }
        var packet = RTPPacket(
            payloadType: payloadType, marker: marker, sequence: sequence, timestamp: timestamp, ssrc: ssrc, payload: payload)
        packet.sendTimeMicros = UInt64(Self.now() * 1_000_000)
        return packet.bytes
    }

    func sendAudio() {
        guard let srtp = srtpOut, let packet = opus.encode(Synthetic.tone(frame: audioFrame, hertz: config.role == .robot ? 440 : 660))
        else { return }
        let ts = UInt32(truncatingIfNeeded: audioFrame * OpusCodec.frameSamples)
        audioFrame += 1
        let bytes = rtp(111, marker: false, sequence: &audioSequence, timestamp: ts, ssrc: audioSSRC, payload: packet)
        guard let protected = srtp.protect(bytes) else { return report.srtpProtectFailures += 1 }
        report.audioFramesSent += 1
        report.rtpPacketsSent += 1
        audioOctets += packet.count
        send([protected], media: true)
    }

    func sendVideo() {
        guard let srtp = srtpOut, let encoder = vp8Encoder else { return }
        let picture = Synthetic.picture(frame: videoFrame, width: config.width, height: config.height)
        let ts = UInt32(truncatingIfNeeded: videoFrame * 90_000 / config.fps)
        let keyframe = videoFrame % (config.fps * 2) == 0 || keyframeRequested
        keyframeRequested = false
        videoFrame += 1
        guard let frame = encoder.encode(picture, pts: Int64(videoFrame), forceKeyframe: keyframe) else { return }
        report.videoFramesSent += 1
        let parts = VP8Payload.packetize(frame.data, maxPayload: 1100)
        for (i, part) in parts.enumerated() {
            let bytes = rtp(96, marker: i == parts.count - 1, sequence: &videoSequence, timestamp: ts, ssrc: videoSSRC, payload: part)
            guard let protected = srtp.protect(bytes) else {
                report.srtpProtectFailures += 1
                continue
            }
            report.rtpPacketsSent += 1
            videoPackets += 1
            videoOctets += part.count
            send([protected], media: true)
        }
    }

    /// The canary has its own payload type and SSRC, so it does not disturb the audio loss count.
    lazy var canarySSRC = UInt32.random(in: 1...UInt32.max)
    var canarySequence: UInt16 = 0

    func sendCanary() {
        guard let srtp = srtpOut else { return }
        let bytes = rtp(110, marker: false, sequence: &canarySequence, timestamp: 0, ssrc: canarySSRC, payload: plaintextCanary)
        guard let protected = srtp.protect(bytes) else { return }
        report.canariesSent += 1
        send([protected])
    }

    var audioOctets = 0
    var videoOctets = 0
    var videoPackets = 0

    /// RTCP (RFC 3550 §6.4): a compound of a sender report per stream this end sends (NTP time,
    /// RTP time, packet and octet counts), the first carrying report blocks for what it receives.
    func sendRTCP() {
        guard let srtp = srtpOut else { return }
        let now = Self.now()
        let ntpSeconds = UInt32(truncatingIfNeeded: Int64(now) + 2_208_988_800)
        let ntpFraction = UInt32(truncatingIfNeeded: Int64((now - now.rounded(.down)) * 4_294_967_296))
        let blocks = [(remoteAudioSSRC, audioIn), (remoteVideoSSRC, videoIn)].filter { $0.1.packets > 0 }
        func senderReport(_ ssrc: UInt32, frames: Int, samplesPerFrame: Double, packets: Int, octets: Int, withBlocks: Bool)
            -> [UInt8]
        {
            let b = withBlocks ? blocks : []
            var sr: [UInt8] = [0x80 | UInt8(b.count), 200, 0, UInt8(6 + 6 * b.count)]
            sr += bytes32(ssrc) + bytes32(ntpSeconds) + bytes32(ntpFraction)
            sr += bytes32(UInt32(truncatingIfNeeded: Int(Double(frames) * samplesPerFrame)))
            sr += bytes32(UInt32(truncatingIfNeeded: packets)) + bytes32(UInt32(truncatingIfNeeded: octets))
            for (remote, s) in b {
                sr += bytes32(remote)
                let fraction = UInt32(min(255.0, s.lossPercent * 2.56))
                sr += bytes32(fraction << 24 | UInt32(min(s.lost, 0x7F_FFFF)))
                sr += bytes32(s.highestExtended) + bytes32(UInt32(s.jitter)) + bytes32(0) + bytes32(0)
            }
            return sr
        }
        var compound = senderReport(
            audioSSRC, frames: audioFrame, samplesPerFrame: Double(OpusCodec.frameSamples), packets: report.audioFramesSent,
            octets: audioOctets, withBlocks: true)
        if config.role == .robot {
            compound += senderReport(
                videoSSRC, frames: videoFrame, samplesPerFrame: 90_000 / Double(config.fps), packets: videoPackets,
                octets: videoOctets, withBlocks: false)
        }
        guard let protected = srtp.protect(compound, rtcp: true) else { return }
        report.rtcpSent += 1
        send([protected])
    }

    /// Sends a PLI for the robot's video, at most every 200 ms.
    func requestKeyframe(now: Double) {
        guard let srtp = srtpOut, now - lastPLI >= 0.2, remoteVideoSSRC != 0 else { return }
        lastPLI = now
        // RTCP requires a compound starting with a report: an empty receiver report, then the PLI.
        let packet = [0x80, 201, 0, 1] + bytes32(audioSSRC) + [0x81, 206, 0, 2] + bytes32(audioSSRC) + bytes32(remoteVideoSSRC)
        guard let protected = srtp.protect(packet, rtcp: true) else { return }
        report.keyframeRequestsSent += 1
        send([protected])
    }

    /// Whether a compound RTCP packet holds a PLI (payload-specific feedback, FMT 1).
    static func containsPLI(_ rtcp: [UInt8]) -> Bool {
        var at = 0
        while at + 4 <= rtcp.count {
            if rtcp[at + 1] == 206 && rtcp[at] & 0x1F == 1 { return true }
            at += 4 + 4 * (Int(rtcp[at + 2]) << 8 | Int(rtcp[at + 3]))
        }
        return false
    }

    func refresh() throws {
        if config.role == .robot {
            let t = config.signal.sample(at: Self.now())
            try turn.refresh(lifetime: 600) { $0.append(LinkTelemetry.attribute, t.encoded) }
            report.telemetrySent += 1
        } else {
            try turn.refresh(lifetime: 600)
        }
    }

    // MARK: Receiving

    func handle(_ message: [UInt8]) {
        guard let datagram = turn.unwrap(message), let first = datagram.first else { return }
        report.bytesFromRelay += message.count
        if message.contains(plaintextCanary) { report.canaryVisibleOnWire = true }
        switch first {
        case 0...3: handleSTUN(datagram)
        case 20...63:
            let out = dtls.receive(datagram)
            send(out)
            if dtls.isComplete && srtpOut == nil { establishSRTP() }
        case 128...191: handleSRTP(datagram)
        default: report.unknownDatagrams += 1
        }
    }

    func handleSTUN(_ datagram: [UInt8]) {
        guard let m = try? STUNMessage(parsing: datagram), m.method == .binding else { return }
        switch m.messageClass {
        case .request:
            guard m.verifyIntegrity(key: Array(icePassword.utf8)) == true, m.text(.username)?.hasPrefix("\(ufrag):") == true else {
                report.iceChecksRejected += 1
                return
            }
            var b = STUNMessageBuilder(method: .binding, class: .successResponse, transactionID: m.transactionID)
            if let peer, let address = TransportAddress(peer.relayed) { b.append(.xorMappedAddress, xorAddress: address) }
            b.appendMessageIntegrity(key: Array(icePassword.utf8))
            b.appendFingerprint()
            send([b.bytes])
        case .successResponse:
            guard let sent = checks.removeValue(forKey: m.transactionID), let peer,
                m.verifyIntegrity(key: Array(peer.password.utf8)) == true
            else { return }
            rtts.append((Self.now() - sent) * 1000)
            if !iceConnected {
                iceConnected = true
                report.iceConnectedAfterMillis = rtts.last
            }
        default:
            break
        }
    }

    func establishSRTP() {
        guard let peer else { return }
        report.dtlsCompleted = true
        report.peerFingerprintVerified = dtls.peerFingerprint == peer.fingerprint
        guard report.peerFingerprintVerified, let keys = dtls.srtpKeys() else {
            report.error = "DTLS peer fingerprint does not match what signalling said"
            return
        }
        profile = keys.profile
        report.srtpProfile = keys.profile.name
        srtpOut = SRTPSession(profile: keys.profile, keySalt: keys.outbound, outbound: true)
        srtpIn = SRTPSession(profile: keys.profile, keySalt: keys.inbound, outbound: false)
        if srtpOut == nil || srtpIn == nil { report.error = "cannot create the SRTP sessions" }
    }

    func handleSRTP(_ datagram: [UInt8]) {
        guard let srtp = srtpIn, datagram.count >= 2 else { return }
        let rtcp = (200...206).contains(Int(datagram[1]))
        guard let plain = srtp.unprotect(datagram, rtcp: rtcp) else { return report.srtpUnprotectFailures += 1 }
        if rtcp {
            report.rtcpReceived += 1
            if Self.containsPLI(plain) {
                report.keyframeRequestsReceived += 1
                keyframeRequested = true
            }
            return
        }
        guard let p = RTPPacket(plain) else { return }
        let now = Self.now()
        let delay = p.sendTimeMicros.map { (now * 1_000_000 - Double($0)) / 1000 }
        switch p.payloadType {
        case 111:
            remoteAudioSSRC = p.ssrc
            audioIn.record(sequence: p.sequence, timestamp: p.timestamp, arrival: now, delayMillis: delay, size: datagram.count)
            audioIn.framesComplete += 1
            if opus.decode(p.payload) != nil { audioIn.framesDecoded += 1 } else { audioIn.decodeErrors += 1 }
        case 96:
            let gap = videoIn.packets > 0 && p.sequence != UInt16(truncatingIfNeeded: videoIn.highestExtended) &+ 1
            remoteVideoSSRC = p.ssrc
            videoIn.record(sequence: p.sequence, timestamp: p.timestamp, arrival: now, delayMillis: delay, size: datagram.count)
            if gap { requestKeyframe(now: now) }
            if let frame = depacketizer.push(p), let decoder = vp8Decoder {
                videoIn.framesComplete += 1
                do {
                    if try decoder.decode(frame) != nil { videoIn.framesDecoded += 1 }
                } catch {
                    videoIn.decodeErrors += 1
                    requestKeyframe(now: now)
                }
            }
        case 110:
            if p.payload == plaintextCanary { report.canariesReceived += 1 }
        default:
            report.unknownDatagrams += 1
        }
    }

    func finishReport() {
        report.iceConnected = iceConnected
        report.rttMillis = Percentiles(rtts)
        report.audioReceived = StreamReport(audioIn)
        report.videoReceived = videoIn.packets > 0 ? StreamReport(videoIn) : nil
    }
}

struct EndpointError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

func randomToken(_ n: Int) -> String {
    let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    return String((0..<n).map { _ in alphabet[Int.random(in: 0..<alphabet.count)] })
}

func bytes32(_ v: UInt32) -> [UInt8] {
    [UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)]
}

extension Array where Element == UInt8 {
    func contains(_ needle: [UInt8]) -> Bool {
        guard needle.count <= count, let first = needle.first else { return false }
        var i = 0
        while i <= count - needle.count {
            if self[i] == first && self[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }
}
