import CAV1Shim
import Foundation
import Glibc
import STUN
import Sessions
import Sockets
import TURN

/// Session records stay one per call across a fleet (DESIGN §8): a relay whose allocation's
/// partner is on another member sends that leg's reports to the device's home relay, which
/// feeds them to its sessions as if the leg were local and writes the one record. The reports
/// travel as JSON in a fleet-channel indication (HMAC'd like the questions); they hold no
/// address, no username and no payload.
struct WireLegReport: Codable {
    var legID: UInt64
    var device: String
    var role: String
    var transport: UInt8
    var startedUnix: Int64
    var streams: [TrafficAnalyzer.Stream]
    var rtcpPackets: Int
    var dtlsStartedAt: Int64?
    var dtlsCompletedAt: Int64?
    var requests: [[UInt64]]
    var responses: [[UInt64]]
    var telemetry: [LinkTelemetry]
    var lastActivity: Int64
    var ended: String?
    var endedAt: Int64?
    /// Mobility (absent from an older member's reports).
    var moves: Int?
    var longestMoveGap: Int64?

    init(_ r: LegReport) {
        legID = r.legID
        device = r.device
        role = r.role.rawValue
        transport = r.transport.rawValue
        startedUnix = r.startedUnix
        streams = r.streams
        rtcpPackets = r.rtcpPackets
        dtlsStartedAt = r.dtlsStartedAt
        dtlsCompletedAt = r.dtlsCompletedAt
        requests = r.requests.map { [UInt64($0.0.hi), $0.0.lo, UInt64(bitPattern: $0.1)] }
        responses = r.responses.map { [UInt64($0.0.hi), $0.0.lo, UInt64(bitPattern: $0.1)] }
        telemetry = r.telemetry
        lastActivity = r.lastActivity
        ended = r.ended?.rawValue
        endedAt = r.endedAt
        moves = r.moves
        longestMoveGap = r.longestMoveGap
    }

    /// The report with its times moved onto this relay's monotonic clock (`shift` µs).
    func legReport(shift: Int64) -> LegReport? {
        guard let role = Identity.Role(rawValue: role), let transport = TransportProtocol(rawValue: transport) else { return nil }
        func moved(_ t: Int64?) -> Int64? { t.map { $0 == 0 ? 0 : $0 + shift } }
        func transactions(_ list: [[UInt64]]) -> [(TransactionID, Int64)] {
            list.compactMap {
                $0.count == 3 ? (TransactionID(hi: UInt32(truncatingIfNeeded: $0[0]), lo: $0[1]), Int64(bitPattern: $0[2]) + shift) : nil
            }
        }
        var shifted = streams
        for i in shifted.indices {
            shifted[i].firstArrival += shift
            shifted[i].lastArrival += shift
        }
        return LegReport(
            legID: legID, device: device, role: role, transport: transport, startedUnix: startedUnix, streams: shifted,
            rtcpPackets: rtcpPackets, dtlsStartedAt: moved(dtlsStartedAt), dtlsCompletedAt: moved(dtlsCompletedAt),
            requests: transactions(requests), responses: transactions(responses), telemetry: telemetry,
            lastActivity: moved(lastActivity) ?? 0, ended: ended.flatMap { TURNEvent.DeletionReason(rawValue: $0) },
            endedAt: moved(endedAt), moves: moves ?? 0, longestMoveGap: longestMoveGap ?? 0)
    }
}

extension RelayServer {
    /// Leg reports from the workers (on the sessions' queue): the legs whose partner is on
    /// another member go to the device's home when that is another relay; the rest are this
    /// relay's sessions.
    func route(_ legs: [LegReport]) {
        guard let reporter = fleetReporter, let key = configuration.fleetSecret.map({ Array($0.utf8) }),
            let fleet = fleetState.withLock({ $0 }), legs.contains(where: \.remotePartner)
        else { return sessions.update(legs) }
        var local: [LegReport] = []
        for leg in legs {
            guard leg.remotePartner, let home = fleet.home(of: leg.device), home.name != fleet.selfName else {
                local.append(leg)
                continue
            }
            send(leg, to: home.address, from: reporter, key: key)
        }
        sessions.update(local)
    }

    private func send(_ leg: LegReport, to home: TransportAddress, from socket: Int32, key: [UInt8]) {
        guard let body = try? JSONEncoder().encode(WireLegReport(leg)), body.count <= 3600 else {
            logger.warning("a leg report too large for the fleet channel was not sent", metadata: ["streams": "\(leg.streams.count)"])
            return
        }
        let now = clock.now()
        var b = STUNMessageBuilder(method: .fleetLegs, class: .indication, transactionID: .random())
        b.append(.fleetLegs, Array(body))
        b.append(.fleetClock, (0..<8).map { UInt8(truncatingIfNeeded: now.micros >> (56 - 8 * $0)) })
        b.append(.fleetTime, uint32: UInt32(truncatingIfNeeded: now.unixSeconds))
        b.appendMessageIntegritySHA256(key: key)
        b.appendFingerprint()
        var storage = sockaddr_storage()
        let length = SocketAddress.write(home, into: &storage)
        _ = b.bytes.withUnsafeBytes { bytes in
            withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(socket, bytes.baseAddress, bytes.count, 0, $0, length) }
            }
        }
    }

    /// Leg reports another member sent here (the device's home), onto this relay's clock.
    func receiveFleetLegs(_ body: [UInt8], senderClock: Int64, receivedAt: Int64) {
        guard let wire = try? JSONDecoder().decode(WireLegReport.self, from: Data(body)),
            let leg = wire.legReport(shift: receivedAt - senderClock)
        else { return }
        sessions.update([leg])
    }
}
