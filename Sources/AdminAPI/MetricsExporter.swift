import Foundation
import Prometheus
import RelayIO
import RelayServer
import SessionStore
import Synchronization
import TURN

/// `GET /metrics`: the relay's counters in Prometheus text format, through swift-prometheus.
///
/// The workers keep plain counters (`TURNStats`, `WorkerSnapshot`) and nothing new happens per
/// packet: a scrape reads them between two packets of each worker, as the minute's statistics
/// line does, and moves the registry's counters on by what changed since the last scrape.
/// Labels are fixed words (direction, reason, outcome); none holds an address, a port, a user
/// name or a device id.
final class MetricsExporter: Sendable {
    let registry = PrometheusCollectorRegistry()
    let relay: RelayService

    /// A counter and how to read its value from a sample.
    struct Tracked: Sendable {
        var counter: Counter
        var value: @Sendable (Sample) -> Int
    }

    /// What one scrape reads.
    struct Sample: Sendable {
        var workers: WorkerSnapshot
        var liveSessions: Int
        var backlog: StoreWriter.Backlog?
    }

    let counters: [Tracked]
    /// The values the counters were moved to at the last scrape (counters only go up).
    let pushed: Mutex<[Int]>
    /// The same for counters made at the first scrape that sees them non-zero (one per method
    /// and code, reason, class: most never happen), by name and labels.
    let pushedLazily = Mutex<[String: Int]>([:])
    let allocations: Gauge
    let connections: Gauge
    let sessionsLive: Gauge
    let draining: Gauge
    let recordsQueued: Gauge
    let recordsSpooled: Gauge

    init(relay: RelayService) {
        self.relay = relay
        let r = registry
        func counter(_ name: String, _ labels: [(String, String)], _ help: String, _ value: @escaping @Sendable (Sample) -> Int) -> Tracked
        {
            Tracked(counter: r.makeCounter(descriptor: Self.name(name, help), labels: labels), value: value)
        }
        let packets = "Packets relayed, by direction"
        let bytes = "Payload bytes relayed, by direction"
        let drops = "Packets dropped, by reason"
        let closes = "TCP/TLS connections closed or refused by the relay, by reason"
        let fleet = "Fleet channel checks and refused messages, by outcome"
        counters = [
            counter("av1relay_packets_relayed_total", [("direction", "client_to_peer")], packets) { $0.workers.stats.packetsToPeers },
            counter("av1relay_packets_relayed_total", [("direction", "peer_to_client")], packets) { $0.workers.stats.packetsToClients },
            counter("av1relay_packets_relayed_total", [("direction", "hairpin")], packets) { $0.workers.stats.hairpinned },
            counter("av1relay_bytes_relayed_total", [("direction", "client_to_peer")], bytes) { $0.workers.stats.bytesToPeers },
            counter("av1relay_bytes_relayed_total", [("direction", "peer_to_client")], bytes) { $0.workers.stats.bytesToClients },
            counter("av1relay_packets_received_total", [("from", "client")], "Packets received, by side") {
                $0.workers.stats.packetsFromClients
            },
            counter("av1relay_packets_received_total", [("from", "peer")], "Packets received, by side") {
                $0.workers.stats.packetsFromPeers
            },
            counter("av1relay_packets_dropped_total", [("reason", "malformed")], drops) { $0.workers.stats.malformed },
            counter("av1relay_packets_dropped_total", [("reason", "too_big")], drops) { $0.workers.stats.tooBig },
            // `dropped` counts malformed ones too: the rest are policy drops (permission, channel, allocation).
            counter("av1relay_packets_dropped_total", [("reason", "policy")], drops) {
                max(0, $0.workers.stats.dropped - $0.workers.stats.malformed)
            },
            counter("av1relay_requests_total", [], "STUN/TURN requests handled") { $0.workers.stats.requests },
            counter("av1relay_error_responses_total", [], "STUN/TURN error responses sent") { $0.workers.stats.errorResponses },
            counter("av1relay_stream_closes_total", [("reason", "refused")], closes) { $0.workers.streamRefused },
            counter("av1relay_stream_closes_total", [("reason", "framing_error")], closes) { $0.workers.streamFramingErrors },
            counter("av1relay_stream_closes_total", [("reason", "overrun")], closes) { $0.workers.streamOverruns },
            counter("av1relay_stream_closes_total", [("reason", "timeout")], closes) { $0.workers.streamTimeouts },
            counter("av1relay_fleet_checks_total", [("outcome", "sent")], fleet) { $0.workers.stats.fleetChecksSent },
            counter("av1relay_fleet_checks_total", [("outcome", "answered")], fleet) { $0.workers.stats.fleetChecksAnswered },
            counter("av1relay_fleet_checks_total", [("outcome", "timed_out")], fleet) { $0.workers.stats.fleetChecksTimedOut },
            counter("av1relay_fleet_messages_refused_total", [], "Fleet channel messages dropped as forged, stale or replayed") {
                $0.workers.stats.fleetMessagesRefused
            },
            counter("av1relay_session_records_lost_total", [], "Session records lost past the spool's bound") { $0.backlog?.lost ?? 0 },
        ]
        pushed = Mutex([Int](repeating: 0, count: counters.count))
        allocations = r.makeGauge(descriptor: Self.name("av1relay_allocations", "TURN allocations now"))
        connections = r.makeGauge(descriptor: Self.name("av1relay_stream_connections", "TCP/TLS client connections now"))
        sessionsLive = r.makeGauge(descriptor: Self.name("av1relay_sessions_live", "Robot/app sessions live now"))
        draining = r.makeGauge(descriptor: Self.name("av1relay_draining", "1 while the relay drains"))
        recordsQueued = r.makeGauge(
            descriptor: Self.name("av1relay_session_records_queued", "Session records waiting for the store in memory"))
        recordsSpooled = r.makeGauge(
            descriptor: Self.name("av1relay_session_records_spooled", "Session records waiting for the store on disk"))
        r.makeGauge(descriptor: Self.name("av1relay_build_info", "The relay's version"), labels: [("version", RelayVersion.current)]).set(
            to: 1)
    }

    /// A metric's whole name (`av1relay_…`, its unit and `_total` in it, as Prometheus spells them).
    static func name(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// The text of one scrape. Blocks while each worker answers (call it off the cooperative pool).
    func scrape() -> String {
        let server = relay.server
        let writer = server.recordKeeper().writer
        let sample = Sample(workers: server.snapshot(), liveSessions: server.liveSessions().count, backlog: writer?.backlog)
        pushed.withLock { last in
            for (index, tracked) in counters.enumerated() {
                let now = tracked.value(sample)
                if now > last[index] { tracked.counter.increment(by: Int64(now - last[index])) }
                last[index] = max(last[index], now)
            }
        }
        advanceEventCounters(sample.workers.events)
        allocations.set(to: Double(sample.workers.allocations))
        connections.set(to: Double(sample.workers.connections))
        sessionsLive.set(to: Double(sample.liveSessions))
        draining.set(to: server.isDraining ? 1 : 0)
        recordsQueued.set(to: Double(sample.backlog?.queued ?? 0))
        recordsSpooled.set(to: Double(sample.backlog?.spooled ?? 0))
        return registry.emitToString()
    }

    /// Refusals by method and code, allocations by transport and end reason, denied peers by class.
    func advanceEventCounters(_ events: TURNEventCounts) {
        let methods = TURNEventCounts.methods.map(\.1) + ["other"]
        let codes = TURNEventCounts.codes.map(String.init) + ["other"]
        var values: [(name: String, labels: [(String, String)], help: String, value: Int)] = []
        for (m, method) in methods.enumerated() {
            for (c, code) in codes.enumerated() {
                values.append(
                    (
                        "av1relay_requests_refused_total", [("method", method), ("code", code)],
                        "STUN/TURN error responses by request method and error code", events.refusals(method: m, code: c)
                    ))
            }
        }
        for (i, transport) in ["udp", "tcp", "tls"].enumerated() {
            values.append(
                (
                    "av1relay_allocations_created_total", [("transport", transport)], "Allocations created, by client transport",
                    events.allocationsCreated[i]
                ))
        }
        for (i, reason) in TURNEventCounts.endReasons.enumerated() {
            values.append(
                (
                    "av1relay_allocations_ended_total", [("reason", reason.rawValue.replacingOccurrences(of: "-", with: "_"))],
                    "Allocations ended, by reason", events.allocationsEnded[i]
                ))
        }
        for (i, denial) in TURNEventCounts.denials.enumerated() {
            values.append(
                (
                    "av1relay_peers_denied_total", [("class", Self.snakeCase(denial.rawValue))],
                    "Permissions or sends refused for the peer's address class (peer policy, pairing)", events.peersDenied[i]
                ))
        }
        pushedLazily.withLock { last in
            for v in values where v.value > 0 {
                let key = v.name + "|" + v.labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
                let before = last[key] ?? 0
                guard v.value > before else { continue }
                registry.makeCounter(descriptor: Self.name(v.name, v.help), labels: v.labels).increment(by: Int64(v.value - before))
                last[key] = v.value
            }
        }
    }

    /// `privateUse` → `private_use`.
    static func snakeCase(_ name: String) -> String {
        name.reduce(into: "") { out, c in out += c.isUppercase ? "_" + c.lowercased() : String(c) }
    }
}
