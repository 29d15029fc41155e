import Foundation
import Prometheus
import RelayIO
import RelayServer
import SessionStore
import Synchronization
import TURN

/// `GET /metrics`: the relay's counters in Prometheus text format, through swift-prometheus.
///
/// The workers keep plain counters (`TURNStats`, `TURNEventCounts`, `WorkerSnapshot`) and nothing
/// new happens per packet: a scrape reads them between two packets of each worker, as the
/// minute's statistics line does, and moves the registry's counters on by what changed since the
/// last scrape. Labels are fixed words (direction, reason, method, code, class); none holds an
/// address, a port, a user name or a device id.
final class MetricsExporter: Sendable {
    let registry = PrometheusCollectorRegistry()
    let relay: RelayService

    /// What one scrape reads.
    struct Sample: Sendable {
        var workers = WorkerSnapshot()
        var liveSessions = 0
        var backlog: StoreWriter.Backlog?
        var draining = false
    }

    /// One series of a scrape: a counter, or a gauge. A counter that is not `always` shown is
    /// made at the first scrape that sees it non-zero (one per method and code, reason, class:
    /// most never happen).
    struct Series {
        enum Kind { case counter, gauge }
        var kind: Kind
        var name: String
        var labels: [(String, String)] = []
        var help: String
        var value: Int
        var always = true

        var key: String { name + "{" + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}" }
    }

    /// The counters made so far, by series, with the value each was moved to (counters only go up).
    let counters = Mutex<[String: (counter: Counter, value: Int)]>([:])

    init(relay: RelayService) {
        self.relay = relay
        publish(Self.series(Sample()))
        registry.makeGauge(descriptor: Self.name("av1relay_build_info", "The relay's version"), labels: [("version", RelayVersion.current)])
            .set(to: 1)
    }

    /// A metric's whole name (`av1relay_…`, its unit and `_total` in it, as Prometheus spells them).
    static func name(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// The text of one scrape. Blocks while each worker answers (call it off the cooperative pool).
    func scrape() -> String {
        let server = relay.server
        publish(
            Self.series(
                Sample(
                    workers: server.snapshot(), liveSessions: server.liveSessions().count, backlog: server.recordKeeper().writer?.backlog,
                    draining: server.isDraining)))
        return registry.emitToString()
    }

    /// Moves counters on by what changed and sets the gauges.
    func publish(_ series: [Series]) {
        counters.withLock { made in
            for s in series {
                switch s.kind {
                case .gauge:
                    registry.makeGauge(descriptor: Self.name(s.name, s.help), labels: s.labels).set(to: Double(s.value))
                case .counter:
                    let key = s.key
                    if let (counter, before) = made[key] {
                        guard s.value > before else { continue }
                        counter.increment(by: Int64(s.value - before))
                        made[key] = (counter, s.value)
                    } else if s.always || s.value > 0 {
                        let counter = registry.makeCounter(descriptor: Self.name(s.name, s.help), labels: s.labels)
                        if s.value > 0 { counter.increment(by: Int64(s.value)) }
                        made[key] = (counter, s.value)
                    }
                }
            }
        }
    }

    /// Every series of a sample.
    static func series(_ sample: Sample) -> [Series] {
        let stats = sample.workers.stats
        let events = sample.workers.events
        func counter(_ name: String, _ labels: [(String, String)] = [], _ help: String, _ value: Int, always: Bool = true) -> Series {
            Series(kind: .counter, name: name, labels: labels, help: help, value: value, always: always)
        }
        func gauge(_ name: String, _ help: String, _ value: Int) -> Series { Series(kind: .gauge, name: name, help: help, value: value) }
        let packets = "Packets relayed, by direction"
        let bytes = "Payload bytes relayed, by direction"
        let received = "Packets received, by side"
        let drops = "Packets dropped, by reason"
        let closes = "TCP/TLS connections closed or refused by the relay, by reason"
        let fleet = "Fleet channel checks, by outcome"
        var all = [
            counter("av1relay_packets_relayed_total", [("direction", "client_to_peer")], packets, stats.packetsToPeers),
            counter("av1relay_packets_relayed_total", [("direction", "peer_to_client")], packets, stats.packetsToClients),
            counter("av1relay_packets_relayed_total", [("direction", "hairpin")], packets, stats.hairpinned),
            counter("av1relay_bytes_relayed_total", [("direction", "client_to_peer")], bytes, stats.bytesToPeers),
            counter("av1relay_bytes_relayed_total", [("direction", "peer_to_client")], bytes, stats.bytesToClients),
            counter("av1relay_packets_received_total", [("from", "client")], received, stats.packetsFromClients),
            counter("av1relay_packets_received_total", [("from", "peer")], received, stats.packetsFromPeers),
            counter("av1relay_packets_dropped_total", [("reason", "malformed")], drops, stats.malformed),
            counter("av1relay_packets_dropped_total", [("reason", "too_big")], drops, stats.tooBig),
            // `dropped` counts malformed ones too: the rest are policy drops (permission, channel, allocation).
            counter("av1relay_packets_dropped_total", [("reason", "policy")], drops, max(0, stats.dropped - stats.malformed)),
            counter("av1relay_requests_total", [], "STUN/TURN requests handled", stats.requests),
            counter("av1relay_error_responses_total", [], "STUN/TURN error responses sent", stats.errorResponses),
            counter("av1relay_stream_closes_total", [("reason", "refused")], closes, sample.workers.streamRefused),
            counter("av1relay_stream_closes_total", [("reason", "framing_error")], closes, sample.workers.streamFramingErrors),
            counter("av1relay_stream_closes_total", [("reason", "overrun")], closes, sample.workers.streamOverruns),
            counter("av1relay_stream_closes_total", [("reason", "timeout")], closes, sample.workers.streamTimeouts),
            counter("av1relay_fleet_checks_total", [("outcome", "sent")], fleet, stats.fleetChecksSent),
            counter("av1relay_fleet_checks_total", [("outcome", "answered")], fleet, stats.fleetChecksAnswered),
            counter("av1relay_fleet_checks_total", [("outcome", "timed_out")], fleet, stats.fleetChecksTimedOut),
            counter(
                "av1relay_fleet_messages_refused_total", [], "Fleet channel messages dropped as forged, stale or replayed",
                stats.fleetMessagesRefused),
            counter("av1relay_session_records_lost_total", [], "Session records lost past the spool's bound", sample.backlog?.lost ?? 0),
            gauge("av1relay_allocations", "TURN allocations now", sample.workers.allocations),
            gauge("av1relay_stream_connections", "TCP/TLS client connections now", sample.workers.connections),
            gauge("av1relay_sessions_live", "Robot/app sessions live now", sample.liveSessions),
            gauge("av1relay_draining", "1 while the relay drains", sample.draining ? 1 : 0),
            gauge("av1relay_session_records_queued", "Session records waiting for the store in memory", sample.backlog?.queued ?? 0),
            gauge("av1relay_session_records_spooled", "Session records waiting for the store on disk", sample.backlog?.spooled ?? 0),
        ]
        // Refusals by method and code, allocations by transport and end reason, denied peers by class.
        let methods = TURNEventCounts.methods.map(\.1) + ["other"]
        let codes = TURNEventCounts.codes.map(String.init) + ["other"]
        for (m, method) in methods.enumerated() {
            for (c, code) in codes.enumerated() {
                all.append(
                    counter(
                        "av1relay_requests_refused_total", [("method", method), ("code", code)],
                        "STUN/TURN error responses by request method and error code", events.refusals(method: m, code: c), always: false))
            }
        }
        for (i, transport) in ["udp", "tcp", "tls"].enumerated() {
            all.append(
                counter(
                    "av1relay_allocations_created_total", [("transport", transport)], "Allocations created, by client transport",
                    events.allocationsCreated[i], always: false))
        }
        for (i, reason) in TURNEventCounts.endReasons.enumerated() {
            all.append(
                counter(
                    "av1relay_allocations_ended_total", [("reason", reason.rawValue.replacingOccurrences(of: "-", with: "_"))],
                    "Allocations ended, by reason", events.allocationsEnded[i], always: false))
        }
        for (i, denial) in TURNEventCounts.denials.enumerated() {
            all.append(
                counter(
                    "av1relay_peers_denied_total", [("class", snakeCase(denial.rawValue))],
                    "Permissions or sends refused for the peer's address class (peer policy, pairing)", events.peersDenied[i],
                    always: false))
        }
        return all
    }

    /// `privateUse` → `private_use`.
    static func snakeCase(_ name: String) -> String {
        name.reduce(into: "") { out, c in out += c.isUppercase ? "_" + c.lowercased() : String(c) }
    }
}
