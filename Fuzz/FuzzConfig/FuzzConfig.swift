import Foundation
import FuzzSupport
import RelayConfig

// The configuration parser (issue 13): a config file (and the text of any file it names, such as
// auth-secret-file) answers with a configuration or an error naming a key and a reason — never a
// crash, never the same input two ways. Its lines given as flags instead mean the same thing,
// and an error about a secret never quotes the secret.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    check(UnsafeRawBufferPointer(start: start, count: count))
    return 0
}

/// Keys whose values are secrets: what an error about them says must not repeat the value.
let secretKeys: Set<String> = ["auth-secret", "fleet-secret", "user", "admin-token"]

func parse(_ arguments: [String], file: String, other: String) -> Result<RelayConfiguration.Command, RelayConfiguration.Invalid> {
    Result { () throws(RelayConfiguration.Invalid) in
        try RelayConfiguration.parse(arguments: arguments) { path in path == "fuzz.conf" ? file : other }
    }
}

/// The `key = value` lines of a file as the parser reads them (trimmed, one pair of quotes
/// dropped), or nil when some line is not one.
func pairs(_ file: String) -> [(String, String)]? {
    var out: [(String, String)] = []
    for raw in file.split(separator: "\n", omittingEmptySubsequences: false) {
        let line = raw.trimmingCharacters(in: .whitespaces)
        if line.isEmpty || line.hasPrefix("#") { continue }
        guard let eq = line.firstIndex(of: "=") else { return nil }
        let key = line[..<eq].trimmingCharacters(in: .whitespaces)
        var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
        if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
        out.append((key, value))
    }
    return out
}

func check(_ data: UnsafeRawBufferPointer) {
    let bytes = Array(data)
    let cut = bytes.firstIndex(of: 0) ?? bytes.count
    let file = String(decoding: bytes[..<cut], as: UTF8.self)
    let other = String(decoding: bytes[min(cut + 1, bytes.count)...], as: UTF8.self)
    let fromFile = parse(["--config", "fuzz.conf"], file: file, other: other)
    precondition(fromFile == parse(["--config", "fuzz.conf"], file: file, other: other), "one input parsed two ways")
    if case .failure(let e) = fromFile {
        precondition(!e.key.isEmpty && !e.reason.isEmpty, "an error that names no key or no reason: \(e)")
    }
    guard let lines = pairs(file) else { return }
    for (key, value) in lines where secretKeys.contains(key) && value.count >= 8 {
        guard case .failure(let e) = fromFile, e.key == key, e.reason.contains(value) else { continue }
        // Unless the error's own words hold it (a value such as "admin-to"): then another secret
        // in its place shows the same words.
        let masked = "\(key) = \(String(repeating: "Z", count: value.count))\n"
        guard case .failure(let again) = parse(["--config", "fuzz.conf"], file: masked, other: other), again.reason.contains(value)
        else { preconditionFailure("an error quotes a secret: \(e)") }
    }
    // The same lines as flags. Keys the command line reads itself (config, check, help, version)
    // or that start like a flag's value are not the file's to say.
    guard lines.allSatisfy({ !$0.0.isEmpty && !$0.0.hasPrefix("-") && !["config", "check", "help", "version", "h"].contains($0.0) })
    else { return }
    let fromFlags = parse(lines.flatMap { ["--\($0.0)", $0.1] }, file: "", other: other)
    switch (fromFile, fromFlags) {
    case (.success(let a), .success(let b)): precondition(a == b, "a file and the same flags configure different relays")
    case (.failure(let a), .failure(let b)): precondition(a.key == b.key, "a file and the same flags fail on different keys: \(a) / \(b)")
    default: preconditionFailure("a file and the same flags disagree: \(fromFile) / \(fromFlags)")
    }
}

func seeds() -> [[UInt8]] {
    let files = [
        """
        # A relay of a fleet, as deploy/ configures one
        listen = 0.0.0.0:3478
        tcp-listen = 0.0.0.0:3478
        relay-address = 127.0.0.1
        min-port = 49152
        max-port = 65535
        realm = "av1relay"
        pairing = on
        auth-secret-file = /run/secrets/rest
        session-log = sessions.jsonl
        session-interim = 30
        allow-peer = 10.0.0.0/8
        user = robot:demo:demo-password
        source-rate = 50
        source-burst = 200
        """,
        "listen = 127.0.0.1:0\ntcp-listen = none\nworkers = 2\nmobility = off\nmax-bps = 2000000\nchannel-range = rfc5766\n",
        "listen = [::1]:3478\nfleet-self = r1\nfleet-member = r1=127.0.0.1:3478\nfleet-secret = 0123456789abcdef\n",
        "tls-listen = 127.0.0.1:5349\ntls-cert = cert.pem\ntls-key = key.pem\nlog-level = debug\nsession-store = none\n",
    ]
    return files.map { Array($0.utf8) + [0] + Array("first-secret\n# a comment\nsecond-secret\n".utf8) }
}

@main
struct Main {
    static func main() { FuzzMain.main(fuzzConfig, seeds: seeds, check) }
}
