import Foundation
import Prometheus
import RelayIO
import RelayServer
import SessionStore
import Sessions
import Synchronization
import TURN

/// `GET /metrics`: the relay's counters in Prometheus text format, through swift-prometheus.
///
/// The workers keep plain counters (`TURNStats`, `TURNEventCounts`, `WorkerSnapshot`) and nothing
/// new happens per packet: a scrape reads them between two packets of each worker, as the
/// minute's statistics line does, and moves the registry's counters on by what changed since the
/// last scrape. Labels are fixed words (direction, reason, method, code, class); none holds an
/// address, a port, a user name or a device id.
public final class MetricsExporter: Sendable {
    let registry = PrometheusCollectorRegistry()
    let server: RelayServer

    /// What one scrape reads.
    struct Sample: Sendable {
        var workers = WorkerSnapshot()
        /// Each worker's own, for per-worker series (busy time).
        var perWorker: [WorkerSnapshot] = []
        var liveSessions = 0
        var backlog: StoreWriter.Backlog?
        var logBacklog: JSONLinesSink.Backlog?
        var draining = false
        var outcomes = SessionOutcomes()
        /// The network namespace's UDP counters (`/proc/net/snmp`), when readable.
        var udp: KernelUDPCounters?
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
        var value: Double
        var always = true

        var key: String { name + "{" + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",") + "}" }
    }

    /// The counters made so far, by series, with the value each was moved to (counters only go up).
    let counters = Mutex<[String: (counter: Counter, value: Double)]>([:])

    public init(server: RelayServer) {
        self.server = server
        publish(Self.series(Sample()))
        registry.makeGauge(descriptor: Self.name("av1relay_build_info", "The relay's version"), labels: [("version", RelayVersion.current)])
            .set(to: 1)
    }

    /// A metric's whole name (`av1relay_…`, its unit and `_total` in it, as Prometheus spells them).
    static func name(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// The text of one scrape. Blocks while each worker answers (call it off the cooperative pool).
    public func scrape() -> String {
        let perWorker = server.workers.map { $0.snapshot() }
        let sample = Sample(
            workers: perWorker.reduce(WorkerSnapshot(), +), perWorker: perWorker, liveSessions: server.liveSessions().count,
            backlog: server.recordKeeper().writer?.backlog, logBacklog: server.sessionLog?.backlog, draining: server.isDraining,
            outcomes: server.sessionOutcomes(),
            udp: KernelUDPCounters.read())
        publish(Self.series(sample))
        return registry.emitToString() + Self.histograms(sample).map(\.text).joined()
    }

    /// Moves counters on by what changed and sets the gauges.
    func publish(_ series: [Series]) {
        counters.withLock { made in
            for s in series {
                switch s.kind {
                case .gauge:
                    registry.makeGauge(descriptor: Self.name(s.name, s.help), labels: s.labels).set(to: s.value)
                case .counter:
                    let key = s.key
                    if let (counter, before) = made[key] {
                        guard s.value > before else { continue }
                        Self.increment(counter, by: s.value - before)
                        made[key] = (counter, s.value)
                    } else if s.always || s.value > 0 {
                        let counter = registry.makeCounter(descriptor: Self.name(s.name, s.help), labels: s.labels)
                        if s.value > 0 { Self.increment(counter, by: s.value) }
                        made[key] = (counter, s.value)
                    }
                }
            }
        }
    }

    /// Counts stay whole numbers in the text; only time moves counters by fractions.
    static func increment(_ counter: Counter, by delta: Double) {
        if delta == delta.rounded() { counter.increment(by: Int64(delta)) } else { counter.increment(by: delta) }
    }

    /// Every series of a sample.
    static func series(_ sample: Sample) -> [Series] {
        let stats = sample.workers.stats
        let events = sample.workers.events
        func counter(_ name: String, _ labels: [(String, String)] = [], _ help: String, _ value: Int, always: Bool = true) -> Series {
            Series(kind: .counter, name: name, labels: labels, help: help, value: Double(value), always: always)
        }
        func gauge(_ name: String, _ help: String, _ value: Int) -> Series {
            Series(kind: .gauge, name: name, help: help, value: Double(value))
        }
        let packets = "Packets relayed, by direction"
        let bytes = "Payload bytes relayed, by direction"
        let received = "Packets received, by side"
        let drops = "Packets dropped without being relayed, by reason"
        let closes = "TCP/TLS client connections closed or refused, by reason"
        let fleet = "Fleet channel checks, by outcome"
        let health = sample.workers.health
        var all = [
            counter("av1relay_packets_relayed_total", [("direction", "client_to_peer")], packets, stats.packetsToPeers),
            counter("av1relay_packets_relayed_total", [("direction", "peer_to_client")], packets, stats.packetsToClients),
            counter("av1relay_packets_relayed_total", [("direction", "hairpin")], packets, stats.hairpinned),
            counter("av1relay_bytes_relayed_total", [("direction", "client_to_peer")], bytes, stats.bytesToPeers),
            counter("av1relay_bytes_relayed_total", [("direction", "peer_to_client")], bytes, stats.bytesToClients),
            counter("av1relay_packets_received_total", [("from", "client")], received, stats.packetsFromClients),
            counter("av1relay_packets_received_total", [("from", "peer")], received, stats.packetsFromPeers),
            counter("av1relay_requests_total", [], "STUN/TURN requests handled", stats.requests),
            counter("av1relay_error_responses_total", [], "STUN/TURN error responses sent", stats.errorResponses),
            counter("av1relay_tls_handshakes_total", [("outcome", "completed")], "TLS handshakes, by outcome", health.tlsHandshakes),
            counter("av1relay_tls_handshakes_total", [("outcome", "failed")], "TLS handshakes, by outcome", health.tlsFailures),
            counter("av1relay_fleet_checks_total", [("outcome", "sent")], fleet, stats.fleetChecksSent),
            counter("av1relay_fleet_checks_total", [("outcome", "answered")], fleet, stats.fleetChecksAnswered),
            counter("av1relay_fleet_checks_total", [("outcome", "timed_out")], fleet, stats.fleetChecksTimedOut),
            counter("av1relay_session_records_lost_total", [], "Session records lost past the spool's bound", sample.backlog?.lost ?? 0),
            counter(
                "av1relay_accept_pauses_total", [], "Times a TCP/TLS listener rested for want of file descriptors or memory",
                health.acceptPauses),
            counter(
                "av1relay_session_log_write_failures_total", [], "Attempts to write the session log that failed",
                sample.logBacklog?.failures ?? 0),
            counter(
                "av1relay_session_log_records_dropped_total", [], "Session records dropped past the session log's backlog",
                sample.logBacklog?.dropped ?? 0),
            counter(
                "av1relay_datagrams_send_failed_total", [], "Datagrams the kernel refused to send (full socket buffer, unreachable)",
                health.sendFailures),
            counter(
                "av1relay_outbox_overflows_total", [], "Datagrams not queued because a worker's outbox was full", health.outboxOverflows),
            gauge("av1relay_allocations", "TURN allocations now", sample.workers.allocations),
            gauge("av1relay_stream_connections", "TCP/TLS client connections now", sample.workers.connections),
            gauge("av1relay_sessions_live", "Robot/app sessions live now", sample.liveSessions),
            gauge("av1relay_draining", "1 while the relay drains", sample.draining ? 1 : 0),
            gauge("av1relay_session_records_queued", "Session records waiting for the store in memory", sample.backlog?.queued ?? 0),
            gauge("av1relay_session_records_spooled", "Session records waiting for the store on disk", sample.backlog?.spooled ?? 0),
            gauge(
                "av1relay_session_log_records_waiting", "Session records waiting in memory for the session log",
                sample.logBacklog?.waiting ?? 0),
        ]
        for reason in DropReason.allCases {
            all.append(counter("av1relay_packets_dropped_total", [("reason", label(reason))], drops, stats[dropped: reason]))
        }
        for reason in StreamCloseReason.allCases {
            all.append(counter("av1relay_stream_closes_total", [("reason", label(reason))], closes, health[closed: reason]))
        }
        for (t, transport) in AllocationKinds.transports.enumerated() {
            for (f, family) in AllocationKinds.families.enumerated() {
                all.append(
                    Series(
                        kind: .gauge, name: "av1relay_allocations_by_kind", labels: [("transport", "\(transport)"), ("family", family)],
                        help: "TURN allocations now, by client transport and relayed address family",
                        value: Double(sample.workers.allocationKinds.count(transport: t, family: f))))
            }
        }
        for (i, worker) in sample.perWorker.enumerated() {
            all.append(
                Series(
                    kind: .counter, name: "av1relay_worker_busy_seconds_total", labels: [("worker", "\(i)")],
                    help: "Time each data-plane worker spent handling packets rather than waiting (rate() is its busy ratio)",
                    value: Double(worker.health.busyMicros) / 1_000_000))
        }
        let reasons = SessionOutcomes.endReasons + sample.outcomes.ended.keys.filter { !SessionOutcomes.endReasons.contains($0) }.sorted()
        for reason in reasons {
            let n = sample.outcomes.ended[reason] ?? 0
            all.append(
                counter(
                    "av1relay_sessions_ended_total", [("reason", label(reason))],
                    "Robot/app sessions ended, by reason", n))
        }
        if let udp = sample.udp {
            all.append(
                counter(
                    "av1relay_udp_receive_buffer_errors_total", [],
                    "UDP datagrams the kernel dropped for a full receive buffer, whole network namespace (/proc/net/snmp RcvbufErrors)",
                    udp.receiveBufferErrors))
            all.append(
                counter(
                    "av1relay_udp_send_buffer_errors_total", [],
                    "UDP datagrams the kernel dropped for a full send buffer, whole network namespace (/proc/net/snmp SndbufErrors)",
                    udp.sendBufferErrors))
        }
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
        for (i, transport) in AllocationKinds.transports.enumerated() {
            all.append(
                counter(
                    "av1relay_allocations_created_total", [("transport", "\(transport)")], "Allocations created, by client transport",
                    events.allocationsCreated[i], always: false))
        }
        for (i, reason) in TURNEventCounts.endReasons.enumerated() {
            all.append(
                counter(
                    "av1relay_allocations_ended_total", [("reason", label(reason.rawValue))],
                    "Allocations ended, by reason", events.allocationsEnded[i], always: false))
        }
        for (i, path) in ["worker", "across_workers"].enumerated() {
            all.append(
                counter(
                    "av1relay_allocations_moved_total", [("path", path)],
                    "Mobile allocations moved to their client's new 5-tuple (RFC 8016), within a worker or across workers",
                    events.allocationsMoved[i], always: false))
        }
        for (i, denial) in TURNEventCounts.denials.enumerated() {
            all.append(
                counter(
                    "av1relay_peers_denied_total", [("class", label(denial.rawValue))],
                    "Permissions or sends refused for the peer's address class (peer policy, pairing)", events.peersDenied[i],
                    always: false))
        }
        return all
    }

    /// A label value from a case or reason name: `privateUse` → `private_use`, `robot-left` → `robot_left`.
    static func label(_ name: String) -> String {
        name.reduce(into: "") { out, c in out += c.isUppercase ? "_" + c.lowercased() : c == "-" ? "_" : String(c) }
    }

    /// A case's label (`DropReason.tooBig` → `too_big`).
    static func label(_ value: some CaseIterable) -> String { label(String(describing: value)) }

    /// Histograms, written as Prometheus text beside the registry's: their buckets are counted
    /// where they happen (a worker's batch sizes, the sessions' outcomes), not observed one by one here.
    struct Histogram {
        var name: String
        var help: String
        var labels: [(String, String)] = []
        var buckets: Buckets

        /// Its `_bucket`, `_sum` and `_count` lines; `# HELP` and `# TYPE` when `header`.
        func lines(header: Bool) -> String {
            var out = header ? "# HELP \(name) \(help)\n# TYPE \(name) histogram\n" : ""
            let base = labels.map { "\($0.0)=\"\($0.1)\"" }
            func series(_ suffix: String, _ extra: [String] = []) -> String {
                let all = base + extra
                return name + suffix + (all.isEmpty ? "" : "{" + all.joined(separator: ",") + "}")
            }
            var cumulative = 0
            for (i, bound) in buckets.bounds.enumerated() {
                cumulative += buckets.counts[i]
                out += series("_bucket", ["le=\"\(Self.number(bound))\""]) + " \(cumulative)\n"
            }
            out += series("_bucket", ["le=\"+Inf\""]) + " \(buckets.count)\n"
            out += series("_sum") + " \(Self.number(buckets.sum))\n"
            out += series("_count") + " \(buckets.count)\n"
            return out
        }

        static func number(_ v: Double) -> String { v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : "\(v)" }
    }

    /// One family's text: its series one after another under one header.
    struct HistogramFamily {
        var series: [Histogram]
        var text: String { series.enumerated().map { $0.element.lines(header: $0.offset == 0) }.joined() }
    }

    static func histograms(_ sample: Sample) -> [HistogramFamily] {
        let health = sample.workers.health
        let o = sample.outcomes
        func family(_ name: String, _ help: String, _ buckets: Buckets) -> HistogramFamily {
            HistogramFamily(series: [Histogram(name: name, help: help, buckets: buckets)])
        }
        func byStream(_ name: String, _ help: String, _ all: [String: Buckets], empty: [Double]) -> HistogramFamily {
            let keys = all.keys.sorted()
            let series = keys.map { key in
                let parts = key.split(separator: "/").map(String.init)
                return Histogram(name: name, help: help, labels: [("direction", parts[0]), ("kind", parts[1])], buckets: all[key]!)
            }
            return HistogramFamily(series: series.isEmpty ? [Histogram(name: name, help: help, buckets: Buckets(empty))] : series)
        }
        return [
            family(
                "av1relay_receive_batch_datagrams", "Datagrams per recvmmsg call that returned any",
                Buckets(
                    bounds: WorkerHealth.receiveBounds.map(Double.init), counts: health.receiveBatches.elements,
                    sum: Double(health.received))),
            family(
                "av1relay_send_batch_datagrams", "Datagrams per sendmmsg run (one socket, one round)",
                Buckets(bounds: WorkerHealth.sendBounds.map(Double.init), counts: health.sendBatches.elements, sum: Double(health.sent))),
            family("av1relay_session_mos", "Estimated MOS of ended sessions (E-model, 1 to 4.5)", o.mos),
            family("av1relay_session_rtt_seconds", "Median round-trip time between robot and app of ended sessions", o.rtt),
            family("av1relay_session_dtls_handshake_seconds", "DTLS handshake time of ended sessions", o.dtlsHandshake),
            byStream(
                "av1relay_session_loss_ratio", "Packet loss of ended sessions, by direction and media kind", o.loss,
                empty: SessionOutcomes.lossBounds),
            byStream(
                "av1relay_session_jitter_seconds", "Interarrival jitter of ended sessions, by direction and media kind", o.jitter,
                empty: SessionOutcomes.jitterBounds),
        ]
    }
}

/// The network namespace's UDP counters from `/proc/net/snmp` (the `Udp:` header and value lines).
struct KernelUDPCounters: Sendable {
    var receiveBufferErrors: Int
    var sendBufferErrors: Int

    static func read(_ path: String = "/proc/net/snmp") -> KernelUDPCounters? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return parse(text)
    }

    static func parse(_ text: String) -> KernelUDPCounters? {
        let udp = text.split(separator: "\n").filter { $0.hasPrefix("Udp: ") }.map { $0.split(separator: " ").dropFirst().map(String.init) }
        guard udp.count >= 2, udp[0].count == udp[1].count else { return nil }
        let values = Dictionary(zip(udp[0], udp[1]), uniquingKeysWith: { first, _ in first })
        guard let receive = values["RcvbufErrors"].flatMap({ Int($0) }), let send = values["SndbufErrors"].flatMap({ Int($0) }) else {
            return nil
        }
        return KernelUDPCounters(receiveBufferErrors: receive, sendBufferErrors: send)
    }
}
