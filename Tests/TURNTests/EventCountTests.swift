import STUN
import Testing

@testable import TURN

@Suite("Event counts for metrics")
struct EventCountTests {
    @Test("refusals by method and code, allocations by transport and end, denials by class; unknown ones in 'other'; sums add")
    func countsByKind() {
        var counts = TURNEventCounts()
        counts.count([
            .requestFailed(method: .allocate, code: 401), .requestFailed(method: .allocate, code: 401),
            .requestFailed(method: .channelBind, code: 400), .requestFailed(method: .send, code: 599),
            .allocationCreated(transport: .tls, families: 1), .allocationDeleted(reason: .expired, lifetimeSeconds: 600),
            .peerDenied(.notPartner), .fleetLegs([], senderClock: 0, receivedAt: 0),
        ])
        let allocate = TURNEventCounts.methods.firstIndex { $0.1 == "allocate" }!
        let channelBind = TURNEventCounts.methods.firstIndex { $0.1 == "channel_bind" }!
        let code401 = TURNEventCounts.codes.firstIndex(of: 401)!
        let code400 = TURNEventCounts.codes.firstIndex(of: 400)!
        #expect(counts.refusals(method: allocate, code: code401) == 2)
        #expect(counts.refusals(method: channelBind, code: code400) == 1)
        #expect(counts.refusals(method: TURNEventCounts.methodSlots - 1, code: TURNEventCounts.codeSlots - 1) == 1)
        #expect(counts.allocationsCreated[Int(TransportProtocol.tls.rawValue)] == 1)
        #expect(counts.allocationsEnded[TURNEventCounts.endReasons.firstIndex(of: .expired)!] == 1)
        #expect(counts.peersDenied[TURNEventCounts.denials.firstIndex(of: .notPartner)!] == 1)
        let twice = counts + counts
        #expect(
            twice.refusals(method: allocate, code: code401) == 4
                && twice.peersDenied.indices.map { twice.peersDenied[$0] }.reduce(0, +) == 2)
        // Every slot has room: the inline arrays are as large as the lists they count by.
        #expect(TURNEventCounts.methods.count < TURNEventCounts.methodSlots && TURNEventCounts.codes.count < TURNEventCounts.codeSlots)
        #expect(counts.refusals.count == TURNEventCounts.methodSlots * TURNEventCounts.codeSlots)
        #expect(counts.peersDenied.count == TURNEventCounts.denials.count)
        #expect(counts.allocationsEnded.count == TURNEventCounts.endReasons.count)
    }
}
