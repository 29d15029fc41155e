import CAV1Shim
import Foundation
import FuzzSupport
import RelayIO
import TestSupport

// The TLS record path (issue 13): the relay's side of a TLS connection (`TLSRecordPath`, as the
// worker runs it) against an in-memory OpenSSL client. The script decides how the client's
// bytes reach the relay: cut into pieces, bits flipped, bytes inserted or dropped, records
// replayed — in the handshake or after it. Whatever arrives, the relay never crashes, never
// hands on plaintext the client did not send (only a prefix of it), stops at the first failure,
// and, when nothing was tampered with, hands on exactly what was sent.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTLS(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    check(UnsafeRawBufferPointer(start: start, count: count))
    return 0
}

/// A throwaway certificate for the relay's side, made once per process with openssl(1).
let server: TLSContext = {
    let dir = NSTemporaryDirectory() + "fuzz-tls-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    // system(3), not Foundation's Process, whose first run leaks a reference LeakSanitizer reports.
    let made = system(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost "
            + "-keyout \(dir)/key.pem -out \(dir)/cert.pem 2>/dev/null")
    guard made == 0 else { fatalError("FuzzTLS: openssl req failed (\(made))") }
    let context = TLSContext()
    do { try context.load(certificate: "\(dir)/cert.pem", key: "\(dir)/key.pem") } catch { fatalError("FuzzTLS: \(error)") }
    try? FileManager.default.removeItem(atPath: dir)
    return context
}()

// libFuzzer calls the target on one thread: these globals are never shared.
nonisolated(unsafe) let client: OpaquePointer = {
    var err = [CChar](repeating: 0, count: 256)
    guard let ctx = av1_tls_client_ctx(nil, 0, &err, err.count) else { fatalError("FuzzTLS: no client context") }
    return ctx
}()

nonisolated(unsafe) let path = TLSRecordPath()
nonisolated(unsafe) let clientScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)

/// What the client has written, taken from its BIO.
func drain(_ tls: OpaquePointer) -> [UInt8] {
    var out: [UInt8] = []
    while av1_tls_pending(tls) > 0 {
        let n = Int(av1_tls_take(tls, clientScratch.baseAddress, clientScratch.count))
        if n <= 0 { break }
        out += UnsafeRawBufferPointer(rebasing: clientScratch[0..<n])
    }
    return out
}

/// The script's damage to a flight of bytes; returns whether it changed them.
func damage(_ bytes: inout [UInt8], _ script: inout FuzzReader) -> Bool {
    let before = bytes
    for _ in 0..<Int(script.byte() % 4) where !bytes.isEmpty {
        let at = Int(script.byte()) * 256 + Int(script.byte())
        switch script.byte() % 5 {
        case 0: bytes[at % bytes.count] ^= 1 << (script.byte() % 8)
        case 1: bytes.removeSubrange((at % bytes.count)...)
        case 2: bytes.insert(contentsOf: script.run(max: 32), at: at % (bytes.count + 1))
        case 3: bytes.removeSubrange((at % bytes.count)..<min(bytes.count, at % bytes.count + Int(script.byte())))
        default: bytes += bytes.prefix(at % (bytes.count + 1))  // a replay of what went before
        }
    }
    return bytes != before
}

/// The relay's side of one connection: what it handed on, what it sealed back (an echo of the
/// start of each record, sealed before the record is read on, as the worker's flush may), what it
/// sent the client, and why it closed (nil: still open). The script may hang up for it in the
/// middle of an emit or a delivery, as the worker closes a connection whose socket fails: the
/// session is freed there and then, and AddressSanitizer sees any later touch of it.
struct Relay {
    let tls: OpaquePointer
    var established = false
    var closed: StreamCloseReason?
    /// The session was freed by a hang-up (the worker's closeConnection).
    var freed = false
    var plaintext: [UInt8] = []
    var answers: [UInt8] = []
    var toClient: [UInt8] = []

    /// Bytes in, in pieces of the script's sizes.
    mutating func receive(_ bytes: [UInt8], _ script: inout FuzzReader) {
        var at = 0
        while at < bytes.count, closed == nil {
            let n = min(bytes.count - at, 1 + Int(script.byte()) * 8)
            var got: [UInt8] = []
            var sealed: [UInt8] = []
            var echoes: [UInt8] = []
            var out: [UInt8] = []
            let answer = script.byte() & 1 == 0
            // 0–3: hang up at that emit (sealed or not); 4: in the first delivery; else never.
            let hangUp = Int(script.byte() % 16)
            var emits = 0
            var hungUp = false
            let tls = self.tls
            func hangUpNow() {
                av1_tls_free(tls)
                hungUp = true
            }
            func emit(_ bytes: UnsafeRawBufferPointer, into buffer: inout [UInt8]) -> Bool {
                precondition(!hungUp, "emitted after a hang-up")
                defer { emits += 1 }
                if emits == hangUp {
                    hangUpNow()
                    return false
                }
                buffer += bytes
                return true
            }
            let outcome = bytes[at..<(at + n)].withUnsafeBytes { piece in
                path.open(
                    tls, piece, established: established, completed: { established = true },
                    deliver: { plaintext in
                        precondition(!hungUp, "delivered after a hang-up")
                        if hangUp == 4 {
                            hangUpNow()
                            return .stop
                        }
                        if answer {
                            let echo = Array(plaintext.prefix(32))
                            let ok = echo.withUnsafeBytes { e in path.seal(tls, e) { emit($0, into: &sealed) } }
                            precondition(ok, "sealing refused")
                            if hungUp { return .stop }
                            echoes += echo
                        }
                        got += plaintext  // after the seal: what it may have overwritten shows here
                        return .goOn
                    },
                    emit: { emit($0, into: &out) })
            }
            plaintext += got
            answers += echoes
            // In the order the socket would carry them: sealed answers leave while the record is read.
            toClient += sealed + out
            if hungUp {
                precondition(outcome == nil, "a reason for a connection already closed: \(String(describing: outcome))")
                freed = true
                closed = .error
                return
            }
            closed = outcome
            precondition(closed == nil || closed == .tlsFailed || closed == .client, "an unexpected close: \(String(describing: closed))")
            at += n
        }
    }
}

func check(_ data: UnsafeRawBufferPointer) {
    var script = FuzzReader(data)
    guard let serverSession = server.session(), let clientSession = av1_tls_new_client(client, "localhost") else { return }
    var relay = Relay(tls: serverSession)
    defer {
        if !relay.freed { av1_tls_free(serverSession) }
        av1_tls_free(clientSession)
    }
    var tampered = false
    // The handshake: flights back and forth, the client's damaged as the script says.
    var clientDone = false
    for _ in 0..<8 where !(clientDone && relay.established) && relay.closed == nil {
        let rc = av1_tls_handshake(clientSession)
        clientDone = rc == 1
        if rc < 0 { break }
        var flight = drain(clientSession)
        if script.byte() & 0x80 != 0 { tampered = damage(&flight, &script) || tampered }
        relay.receive(flight, &script)
        let answer = relay.toClient
        relay.toClient = []
        _ = answer.withUnsafeBytes { av1_tls_feed(clientSession, $0.baseAddress, $0.count) }
    }
    if !tampered && !relay.freed {
        precondition(relay.established && relay.closed == nil, "an untampered handshake did not complete")
    }
    guard relay.established, relay.closed == nil else { return }
    // Records after it: what the client sends, damaged or not.
    var sent: [UInt8] = []
    for _ in 0..<Int(1 + script.byte() % 4) {
        let message = script.run(max: 255) + (script.byte() & 1 == 0 ? RFC5769.request : [])
        guard !message.isEmpty,
            message.withUnsafeBytes({ av1_tls_write(clientSession, $0.baseAddress, $0.count) }) == message.count
        else { continue }
        sent += message
        var records = drain(clientSession)
        if script.byte() & 0x80 != 0 { tampered = damage(&records, &script) || tampered }
        relay.receive(records, &script)
        if relay.closed != nil { break }
    }
    precondition(
        relay.plaintext.count <= sent.count && Array(sent.prefix(relay.plaintext.count)) == relay.plaintext,
        "plaintext the client never sent")
    if !tampered && !relay.freed {
        precondition(relay.plaintext == sent && relay.closed == nil, "untampered records lost or refused")
    }
    // What the relay sealed, the client opens: the echoes, in order (a prefix of them after a hang-up).
    _ = relay.toClient.withUnsafeBytes { av1_tls_feed(clientSession, $0.baseAddress, $0.count) }
    var opened: [UInt8] = []
    while true {
        let n = Int(av1_tls_read(clientSession, clientScratch.baseAddress, clientScratch.count))
        if n <= 0 { break }
        opened += UnsafeRawBufferPointer(rebasing: clientScratch[0..<n])
    }
    if relay.freed {
        precondition(opened.count <= relay.answers.count && Array(relay.answers.prefix(opened.count)) == opened, "echoes garbled")
    } else {
        precondition(opened == relay.answers, "what the relay sealed is not what the client opens")
    }
}

func seeds() -> [[UInt8]] {
    // Untouched handshakes and records; one with a flipped bit after the handshake; one cut into bytes.
    [
        [0, 0, 0, 0, 0, 0, 0, 0, 2, 4, 1, 2, 3, 4, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 1, 8, 9, 9, 9, 9, 9, 9, 9, 9, 1, 0x80, 1, 0, 9, 0, 3],
        [0x80, 1, 0, 40, 2, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 1],
    ]
}

@main
struct Main {
    static func main() { FuzzMain.main(fuzzTLS, seeds: seeds, check) }
}
