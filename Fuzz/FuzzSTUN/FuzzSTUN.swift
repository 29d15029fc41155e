import FuzzSupport
import STUN
import TestSupport

// The STUN codec (issue 13): whatever the bytes, parsing answers or throws, every typed reader
// answers or throws, and a parsed message rebuilt from its attributes parses to the same ones.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSTUN(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    check(UnsafeRawBufferPointer(start: start, count: count))
    return 0
}

func check(_ data: UnsafeRawBufferPointer) {
    _ = try? STUNHeader(parsing: data)
    _ = STUNDataPath.channelDataHeader(data)
    if let header = try? STUNHeader(parsing: data), data.count >= header.messageSize {
        let message = UnsafeRawBufferPointer(rebasing: data[0..<header.messageSize])
        _ = STUNDataPath.sendIndication(message, header: header)
    }
    let bytes = Array(data)
    guard let m = (try? STUNMessage(parsing: bytes)) ?? nil else { return }
    _ = try? m.errorCode()
    _ = try? m.xorAddress(.xorMappedAddress)
    _ = try? m.xorAddresses(.xorPeerAddress)
    _ = try? m.plainAddress(.alternateServer)
    _ = try? m.uint32(.lifetime)
    _ = try? m.channelNumber()
    _ = try? m.evenPort()
    _ = try? m.reservationToken()
    _ = try? m.familyByte(.requestedAddressFamily)
    _ = try? m.passwordAlgorithms()
    _ = m.text(.realm)
    _ = m.text(.nonce)
    _ = m.unknownComprehensionRequired
    _ = m.verifyIntegrity(key: Array("key".utf8))
    if let v = m.value(LinkTelemetry.attribute) { _ = LinkTelemetry(encoded: v) }

    // Round trip: the same header and attributes, built again, parse to the same attributes.
    var b = STUNMessageBuilder(method: m.method, class: m.messageClass, transactionID: m.transactionID)
    let kept = m.attributes.filter { $0.type != .fingerprint }
    for slot in kept { b.append(slot.type, bytes[slot.value]) }
    if m.contains(.fingerprint) { b.appendFingerprint() }
    guard let again = (try? STUNMessage(parsing: b.bytes)) ?? nil else {
        preconditionFailure("a parsed message, built again, does not parse")
    }
    let before = kept.map { ($0.type, Array(bytes[$0.value])) }
    let after = again.attributes.filter { $0.type != .fingerprint }.map { ($0.type, Array(again.bytes[$0.value])) }
    precondition(
        before.count == after.count && zip(before, after).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }, "round trip changed the attributes")
}

func seeds() -> [[UInt8]] {
    var alice = TestClient(username: "alice", password: "wonderland")
    alice.realm = "av1relay"
    alice.nonce = "obMatJos2wAAAa0nUWCXnc5U"
    alice.fingerprint = true
    var sha = alice
    sha.sha256 = true
    let peer = TransportAddress("8.8.8.8:5000")!
    return [
        RFC5769.request, RFC5769.ipv4Response, RFC5769.ipv6Response, RFC5769.longTermRequest,
        alice.allocate(), sha.allocate { $0.append(.mobilityTicket, []) }, alice.refresh(lifetime: 600), alice.createPermission([peer]),
        alice.channelBind(0x4000, peer), TestClient.sendIndication(to: peer, data: [1, 2, 3]),
        TestClient.channelData(0x4000, [0x80, 96, 0, 1]),
    ]
}

@main
struct Main {
    static func main() { FuzzMain.main(fuzzSTUN, seeds: seeds, check) }
}
