import FuzzSupport
import STUN
import TestSupport

@testable import TURN

// The TURN engine (issue 13), driven by a script the fuzzer writes: raw datagrams and framed
// messages from four clients over UDP and TCP, signed requests built from the script's bytes
// (so that allocations, permissions, channels and moves really happen), peers' datagrams on the
// relay sockets, connections closing and the clock advancing. After every step:
//   - every relay socket open is an allocation's (or a reservation's), and every allocation's
//     relay sockets are open;
//   - after the clock advanced, nothing outlives its lifetime;
//   - no answer to a request without credentials is more than 4× its size.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzEngine(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    check(UnsafeRawBufferPointer(start: start, count: count))
    return 0
}

let clients = [
    TransportAddress("192.0.2.10:40000")!, TransportAddress("192.0.2.10:40001")!, TransportAddress("192.0.2.11:40000")!,
    TransportAddress("[2001:db8::1]:40000")!,
]
let peers = [TransportAddress("8.8.8.8:5000")!, TransportAddress("8.8.4.4:6000")!, TransportAddress("10.0.0.1:7000")!]
let key = [UInt8](repeating: 0x42, count: 32)

func check(_ data: UnsafeRawBufferPointer) {
    var r = FuzzReader(data)
    let flags = r.byte()
    let h = EngineHarness(
        resources: FakeRelayResources(
            addresses: [.ipv4: .v4(0xC633_6401), .ipv6: IPAddress("2001:db8:ffff::1")!], ports: 50000...50007, maxPerUser: 3, maxTotal: 6),
        allow: [CIDR("8.8.0.0/16")!]
    ) {
        $0.mobilityKey = flags & 1 != 0 ? key : nil
        $0.sourceRate = flags & 2 != 0 ? 5 : 0
        $0.sourceBurst = 3
        $0.maxBytesPerSecond = flags & 4 != 0 ? 1000 : 0
    }
    // Each client learns its nonce first (an unsigned Allocate draws the 401).
    var identities = clients.map { _ in
        TestClient(username: flags & 8 != 0 ? "robot:r1" : "alice", password: flags & 8 != 0 ? "pw" : "wonderland")
    }
    if flags & 8 != 0 {
        h.engine.configuration.authenticator = Authenticator(
            realm: EngineHarness.realm, users: ["robot:r1": "pw", "app:r1": "pw"], secrets: [], nonceLifetimeSeconds: 600,
            nonceKey: Array(repeating: 7, count: 32))
    }
    if flags & 16 != 0 { h.engine.configuration.pairing = true }
    for (i, c) in clients.enumerated() {
        if i % 2 == 1 {
            identities[i].username = flags & 8 != 0 ? "app:r1" : "bob"; identities[i].password = flags & 8 != 0 ? "pw" : "builder"
        }
        h.learnNonce(&identities[i], from: c)
    }
    var tickets: [[UInt8]] = []
    var steps = 0
    while !r.isEmpty && steps < 200 {
        steps += 1
        let op = r.byte()
        let who = Int(op >> 4) % clients.count
        let client = clients[who]
        let transport: TransportProtocol = op & 0x80 != 0 ? .tcp : .udp
        let peer = peers[Int(r.byte()) % peers.count]
        var request: [UInt8]?
        switch op & 0x0F {
        case 0, 1:
            // Raw bytes: held to the amplification bound when they are a request without credentials.
            let raw = r.run()
            let sent = h.fromClient(raw, client, transport: transport)
            if let m = (try? STUNMessage(parsing: raw)) ?? nil, m.messageClass == .request, !m.contains(.messageIntegrity),
                !m.contains(.messageIntegritySHA256)
            {
                let out = sent.reduce(0) { $0 + $1.bytes.count }
                precondition(out <= 4 * raw.count, "\(raw.count) bytes without credentials drew \(out)")
            }
        case 2:
            let lifetime = UInt32(r.byte()) * 30
            request = identities[who].allocate { b in
                if flags & 1 != 0 || op & 0x40 != 0 { b.append(.mobilityTicket, []) }
                if lifetime > 0 { b.append(.lifetime, uint32: lifetime) }
                if op & 0x20 != 0 { b.append(.requestedAddressFamily, [2, 0, 0, 0]) }
            }
        case 3:
            let lifetime: UInt32 = r.byte() % 4 == 0 ? 0 : 600
            request = identities[who].refresh(lifetime: lifetime)
        case 4: request = identities[who].createPermission([peer])
        case 5: request = identities[who].channelBind(0x4000 + UInt16(r.byte() % 4), peer)
        case 6:
            h.fromClient(
                TestClient.channelData(0x4000 + UInt16(r.byte() % 4), r.run(), padded: transport == .tcp), client, transport: transport)
        case 7: h.fromClient(TestClient.sendIndication(to: peer, data: r.run()), client, transport: transport)
        case 8:
            let sockets = h.resources.open.keys.sorted()
            if !sockets.isEmpty { h.fromPeer(r.run(), peer, relay: sockets[Int(op >> 4) % sockets.count]) }
        case 9:
            h.advance(seconds: Int64(r.byte()) * 4)
            for a in h.engine.allocations.values { precondition(a.expiry > h.now.millis, "an allocation outlived its lifetime") }
            for a in h.engine.orphans.values { precondition(a.expiry > h.now.millis, "an orphan outlived its grace") }
        case 10: h.engine.connectionClosed(h.tuple(client, .tcp), now: h.now, out: h.out)
        case 11:
            // A mobility Refresh with a ticket seen (or a damaged one) from this client.
            if !tickets.isEmpty {
                var t = tickets[Int(r.byte()) % tickets.count]
                if op & 0x40 != 0, !t.isEmpty { t[Int(r.byte()) % t.count] ^= 1 }
                request = identities[who].request(.refresh) { $0.append(.mobilityTicket, t) }
            }
        default:
            h.engine.removeAll(now: h.now, out: h.out)
        }
        if let request {
            for sent in h.fromClient(request, client, transport: transport) {
                if let t = sent.message?.value(.mobilityTicket) { tickets.append(Array(t)) }
                if let m = sent.message, m.code == 438 { identities[who].learn(from: m) }
            }
        }
        _ = h.collect()
        // Relay sockets: open exactly when an allocation or a reservation holds them.
        let held = (Array(h.engine.allocations.values) + h.engine.orphans.values).flatMap(\.relays).map(\.socket)
        let reserved = h.resources.reservations.values.map(\.socket)
        precondition(Set(held).count == held.count, "two allocations share a relay socket")
        precondition(Set(held + reserved) == Set(h.resources.open.keys), "relay sockets and allocations disagree")
        precondition(h.engine.allocationCount == h.engine.allocations.count + h.engine.orphans.count)
    }
}

func seeds() -> [[UInt8]] {
    // flags, then steps: allocate, permission, channel, data both ways, refresh, time, move.
    [
        [0x01, 0x02, 0, 10, 0x04, 0, 0x05, 0, 0, 0x06, 0, 0, 3, 1, 2, 3, 0x08, 0, 4, 9, 9, 9, 9, 0x03, 0, 1, 0x09, 0, 10, 0x2B, 0, 0],
        [0x09, 0x82, 0, 5, 0x85, 1, 1, 0x0A, 0, 0x9B, 0, 0, 0x09, 0, 40],
        [0x1B, 0x02, 0, 0, 0x22, 0, 0, 0x04, 1, 0x24, 0, 0x06, 0, 0, 8, 0x80, 96, 0, 1, 0, 0, 0, 0, 0x2B, 0, 0, 0x03, 0, 0],
        [0x02, 0x00, 0, 20, 0, 3, 0, 0, 0x21, 0x12, 0xA4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
    ]
}

@main
struct Main {
    static func main() { FuzzMain.main(fuzzEngine, seeds: seeds, check) }
}
