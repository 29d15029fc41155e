import AV1Endpoint
import AV1Media
import Foundation
import STUN
import TURN

// av1sim: real robot and app endpoints (DTLS-SRTP, Opus, VP8) through a TURN relay.
//   av1sim pair  --relay ADDR [options]              robot and app in one process
//   av1sim robot --relay ADDR --exchange DIR [options]
//   av1sim app   --relay ADDR --exchange DIR [options]
// Exit 0 when media flowed and decoded as expected, 1 when it did not, 2 for bad arguments.

let usage = """
    av1sim — AV1 robot and app endpoints for tests, demos and load

    Usage: av1sim pair|robot|app|load --relay ADDR:PORT [options]

      --relay ADDR:PORT        the TURN relay (required)
      --transport udp|tcp|tls  how the endpoints reach the relay (default udp)
      --user NAME:PASSWORD     a static credential for both ends, or
      --secret SECRET          a TURN REST secret: robot:DEVICE and app:DEVICE credentials
      --device ID              the robot's device id with --secret (default demo-robot)
      --duration SECONDS       length of the call (default 10)
      --loss FRACTION          send-side impairment: drop this fraction of media packets (e.g. 0.05)
      --delay MS, --jitter MS  send-side impairment: added delay and random extra delay
      --width N --height N --fps N --video-kbps N   the robot's VP8 video (default 640 480 15 800)
      --signal PROFILE         robot link telemetry: classroom-wifi, weak-wifi, lte, mixed
      --srtp gcm|aes-cm        offer only AEAD_AES_128_GCM or AES_CM_128_HMAC_SHA1_80 (default both, GCM first)
      --pairs N                load: how many robot/app pairs at once (default 10)
      --exchange DIR           robot/app: where the two processes swap addresses and fingerprints
      --min-delivered FRACTION frames that must decode each way for exit 0 (default 0.95; with
                               --loss, of the frames that arrived whole)
      --json FILE              write the JSON report there instead of standard output

    The robot sends VP8 video and Opus audio, the app Opus audio; both run ICE-style checks and
    DTLS 1.2 with SRTP end to end through the relay. Prints a summary line, then a JSON report.
    """

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("av1sim: \(message)\n".utf8))
    exit(2)
}

var arguments = Array(CommandLine.arguments.dropFirst())
guard let command = arguments.first, ["pair", "robot", "app", "load"].contains(command) else {
    if arguments.first == "--help" || arguments.first == "-h" {
        print(usage)
        exit(0)
    }
    fail("expected pair, robot, app or load; see --help")
}
arguments.removeFirst()

var options: [String: String] = [:]
var i = 0
while i < arguments.count {
    let a = arguments[i]
    if a == "--help" || a == "-h" {
        print(usage)
        exit(0)
    }
    guard a.hasPrefix("--"), i + 1 < arguments.count else { fail("'\(a)' needs a value (flags are --key VALUE)") }
    options[String(a.dropFirst(2))] = arguments[i + 1]
    i += 2
}
let known: Set<String> = [
    "relay", "transport", "user", "secret", "device", "duration", "loss", "delay", "jitter", "width", "height", "fps",
    "video-kbps", "signal", "exchange", "min-delivered", "json", "srtp", "pairs",
]
if let unknown = options.keys.first(where: { !known.contains($0) }) { fail("unknown option --\(unknown); see --help") }

@MainActor
func number(_ key: String, _ fallback: Double, _ range: ClosedRange<Double>) -> Double {
    guard let text = options[key] else { return fallback }
    guard let v = Double(text), range.contains(v) else {
        fail("--\(key): '\(text)' is not a number from \(range.lowerBound) to \(range.upperBound)")
    }
    return v
}

guard let relayText = options["relay"] else { fail("--relay ADDR:PORT is required") }
guard let relay = TransportAddress(relayText, defaultPort: 3478) else {
    fail("--relay: '\(relayText)' is not an address like 127.0.0.1:3478")
}
guard let transport = RelayTransport(rawValue: options["transport"] ?? "udp") else { fail("--transport: use udp, tcp or tls") }
guard let signal = SignalProfile(rawValue: options["signal"] ?? "classroom-wifi") else {
    fail("--signal: one of \(SignalProfile.allCases.map(\.rawValue).joined(separator: ", "))")
}
let duration = number("duration", 10, 1...86_400)
let impairment = Impairment(
    loss: number("loss", 0, 0...1), delayMillis: number("delay", 0, 0...10_000), jitterMillis: number("jitter", 0, 0...10_000))
let minimum = number("min-delivered", 0.95, 0...1)
let profiles: [SRTPProfile]
switch options["srtp"] {
case nil: profiles = [.aeadAes128Gcm, .aes128CmHmacSha1_80]
case "gcm": profiles = [.aeadAes128Gcm]
case "aes-cm": profiles = [.aes128CmHmacSha1_80]
case let other?: fail("--srtp: '\(other)' is not gcm or aes-cm")
}

@MainActor
func credentials(_ role: EndpointRole, device: String) -> (String, String) {
    if let user = options["user"] {
        guard let colon = user.firstIndex(of: ":") else { fail("--user: expected NAME:PASSWORD") }
        return (String(user[..<colon]), String(user[user.index(after: colon)...]))
    }
    guard let secret = options["secret"] else { fail("give --user NAME:PASSWORD or --secret SECRET") }
    let expiry = Int64(Date().timeIntervalSince1970) + Int64(duration) + 3600
    let c = Authenticator.restCredential(secret: secret, expiry: expiry, identity: "\(role.rawValue):\(device)")
    return (c.username, c.password)
}

@MainActor
func configuration(_ role: EndpointRole, device: String = options["device"] ?? "demo-robot") -> EndpointConfiguration {
    let (user, password) = credentials(role, device: device)
    var c = EndpointConfiguration(role: role, relay: relay, username: user, password: password)
    c.transport = transport
    c.duration = duration
    c.impairment = impairment
    c.signal = signal
    c.srtpProfiles = profiles
    c.width = Int(number("width", 640, 16...1920))
    c.height = Int(number("height", 480, 16...1080))
    c.fps = Int(number("fps", 15, 1...60))
    c.videoKbps = Int(number("video-kbps", 800, 50...20_000))
    return c
}

@MainActor
func emit<T: Encodable>(_ report: T) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    guard let data = try? encoder.encode(report) else { return }
    if let path = options["json"] {
        _ = FileManager.default.createFile(atPath: path, contents: data)
    } else {
        print(String(decoding: data, as: UTF8.self))
    }
}

/// Shows elapsed time on a terminal while a long call runs.
@MainActor
func progress(until done: @escaping @Sendable () -> Bool) {
    guard isatty(STDERR_FILENO) != 0, duration > 5 else { return }
    let start = Date()
    let (name, total) = (command, duration)
    Thread.detachNewThread {
        while !done() {
            FileHandle.standardError.write(Data(String(format: "\r%@ %.0f / %.0f s", name, Date().timeIntervalSince(start), total).utf8))
            sleep(1)
        }
        FileHandle.standardError.write(Data("\r".utf8))
    }
}

/// Starts a robot and an app on threads of their own; `wait` returns the pair's report.
@MainActor
func startPair(device: String) -> () -> PairReport {
    let exchange = MemoryExchange()
    let robotConfiguration = configuration(.robot, device: device)
    let appConfiguration = configuration(.app, device: device)
    let boxes = (ReportBox(), ReportBox())
    for (box, c) in [(boxes.0, robotConfiguration), (boxes.1, appConfiguration)] {
        let thread = Thread { box.set(Endpoint(c, exchange: exchange).run()) }
        thread.stackSize = 8 << 20
        thread.start()
    }
    let loss = impairment.loss
    let min = minimum
    return { PairReport(robot: boxes.0.wait(), app: boxes.1.wait(), minimumDelivered: min, loss: loss) }
}

switch command {
case "pair":
    let finished = ManagedAtomicFlag()
    progress { finished.isSet }
    let pair = startPair(device: options["device"] ?? "demo-robot")()
    finished.set()
    print(pair.summary)
    emit(pair)
    exit(pair.ok ? 0 : 1)
case "load":
    let count = Int(number("pairs", 10, 1...500))
    let finished = ManagedAtomicFlag()
    progress { finished.isSet }
    let base = options["device"] ?? "load-robot"
    let waits = (0..<count).map { startPair(device: "\(base)-\($0)") }
    let pairs = waits.map { $0() }
    finished.set()
    let ok = pairs.filter(\.ok).count
    let video = pairs.map(\.videoDelivered).sorted()
    let rtts = pairs.compactMap { $0.app.rttMillis.p50 }.sorted()
    print(
        "\(ok == count ? "OK" : "FAILED") load \(transport.rawValue): \(ok)/\(count) pairs ok, video decoded min \(Int((video.first ?? 0) * 100)) % "
            + "median \(Int((video[video.count / 2]) * 100)) %, rtt p50 median \(rtts.isEmpty ? 0 : rtts[rtts.count / 2]) ms")
    emit(LoadReport(pairs: pairs, ok: ok))
    exit(ok == count ? 0 : 1)
default:
    guard let directory = options["exchange"] else { fail("\(command): --exchange DIR is required") }
    let role: EndpointRole = command == "robot" ? .robot : .app
    let finished = ManagedAtomicFlag()
    progress { finished.isSet }
    let report = Endpoint(configuration(role), exchange: FileExchange(directory: directory)).run()
    finished.set()
    let received = role == .app ? report.videoReceived : report.audioReceived
    let flowed =
        report.error == nil && report.dtlsCompleted && report.peerFingerprintVerified && (received?.framesDecoded ?? 0) > 0
        && !report.canaryVisibleOnWire
    print(
        "\(flowed ? "OK" : "FAILED") \(role.rawValue) \(transport.rawValue): decoded \(received?.framesDecoded ?? 0) frames, loss \(received?.lossPercent ?? 0) %"
            + (report.error.map { " — \($0)" } ?? ""))
    emit(report)
    exit(flowed ? 0 : 1)
}
