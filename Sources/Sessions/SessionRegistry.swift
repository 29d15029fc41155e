import Foundation
import STUN
import Synchronization
import TURN

/// Sessions (DESIGN §5): a robot allocation and an app allocation of one device exchanging
/// traffic. Workers hand in leg reports (on the sessions' own queue, never on a worker's thread
/// under this lock); `tick` decides when sessions start and end and makes the records.
///
/// One session is one call. A reconnect of the call — a new allocation without a new DTLS
/// handshake, such as an ICE restart — continues it within `idleTimeout`; a new DTLS handshake
/// (a new PeerConnection) ends it and starts another. When both sides delete their allocations
/// (Refresh 0, a stream closing) the session ends at once; only vanished clients, whose
/// allocations expire, wait for `idleTimeout`.
public final class SessionRegistry: Sendable {
    public struct Settings: Sendable {
        /// Seconds between interim records.
        public var interimInterval: Double = 30
        /// Seconds without traffic, or without one side, that end a session.
        public var idleTimeout: Double = 30
        public init() {}
    }

    struct Session {
        var id: String
        var startUnix: Double
        var lastInterimUnix: Double
        /// Every leg seen in this session, the ended ones too (counters add up across reconnects).
        var legs: Set<UInt64> = []
        /// Since when a side has been missing (monotonic µs).
        var missingSince: Int64?
        var missingRole: Identity.Role?
        /// When both sides had completed the call's DTLS handshake (monotonic µs): a hello after
        /// it is a new call.
        var handshakeDoneAt: Int64?
        var robotHalf: [Double] = []
        var appHalf: [Double] = []
    }

    struct State {
        var legs: [UInt64: LegReport] = [:]
        var sessions: [String: Session] = [:]
        /// The robot's link telemetry per leg, aggregated as it arrives.
        var signals: [UInt64: SignalSummary] = [:]
        /// Live legs of a call that has ended (a new call replaced it): they join no session.
        var retired: Set<UInt64> = []
        /// Binding requests waiting for their response: tid → (time, role of the requester).
        var pending: [TransactionID: (Int64, Identity.Role)] = [:]
        /// The robot's latest link telemetry per device, not yet in its trail.
        var freshTelemetry: [String: LinkTelemetry] = [:]
        /// Each device's signal over the last `trailSeconds` (the status page's chart).
        var trails: [String: [SignalPoint]] = [:]

        mutating func forget(_ id: UInt64) {
            legs[id] = nil
            signals[id] = nil
            retired.remove(id)
        }
    }

    let settings: Settings
    private let state = Mutex(State())
    /// How far back a device's signal trail reaches (seconds).
    public static let trailSeconds = 600.0

    /// One sample of the robot's link, at a wall-clock instant.
    public struct SignalPoint: Sendable, Equatable {
        public var unix: Double
        public var wifiRSSI: Double?
        public var rsrp: Double?
    }

    public init(settings: Settings = Settings()) { self.settings = settings }

    public var activeSessions: Int { state.withLock { $0.sessions.count } }

    /// What the relay holds of one device now (the admin API's device status).
    public struct DeviceLive: Sendable, Equatable {
        /// Whether the robot and the app have a live allocation here.
        public var robot: Bool
        public var app: Bool
        /// Transport of each side's live allocation ("robot": "udp").
        public var transports: [String: String]
        /// The live session as a record so far (type "interim", `end` now); nil outside a call.
        public var session: SessionRecord?
        /// The last traffic of a live allocation (ISO 8601 UTC); nil with none.
        public var lastActivity: String?
        /// The robot's signal over the last ten minutes, oldest first.
        public var signalTrail: [SignalPoint] = []
    }

    /// `now` on the leg reports' clock (monotonic µs), `unix` the wall time for the record's dates.
    public func live(device: String, now: Int64, unix: Double) -> DeviceLive {
        state.withLock { s in
            let live = s.legs.values.filter { $0.device == device && $0.ended == nil && !s.retired.contains($0.legID) }
            let session = s.sessions[device].map { session in
                record(session, device: device, legs: session.legs.compactMap { s.legs[$0] }, signals: s.signals, unix: unix, final: nil)
            }
            return DeviceLive(
                robot: live.contains { $0.role == .robot }, app: live.contains { $0.role == .app },
                transports: Dictionary(live.map { ($0.role.rawValue, "\($0.transport)") }, uniquingKeysWith: { first, _ in first }),
                session: session, lastActivity: live.map(\.lastActivity).max().map { Self.iso(unix - Double(now - $0) / 1_000_000) },
                signalTrail: s.trails[device] ?? [])
        }
    }

    /// The devices with a live allocation here, and which sides: device → (robot, app).
    public func onlineDevices() -> [String: (robot: Bool, app: Bool)] {
        state.withLock { s in
            var online: [String: (robot: Bool, app: Bool)] = [:]
            for leg in s.legs.values where leg.ended == nil && !s.retired.contains(leg.legID) {
                var sides = online[leg.device] ?? (false, false)
                if leg.role == .robot { sides.robot = true } else { sides.app = true }
                online[leg.device] = sides
            }
            return online
        }
    }

    /// Every live session as a record so far, oldest first.
    public func liveSessions(unix: Double) -> [SessionRecord] {
        state.withLock { s in
            s.sessions.map { device, session in
                record(session, device: device, legs: session.legs.compactMap { s.legs[$0] }, signals: s.signals, unix: unix, final: nil)
            }
            .sorted { ($0.start, $0.sessionID) < ($1.start, $1.sessionID) }
        }
    }

    /// Leg reports from a worker (each second, and when an allocation ends).
    public func update(_ reports: [LegReport]) {
        guard !reports.isEmpty else { return }
        state.withLock { s in
            for r in reports {
                var merged = r
                if let old = s.legs[r.legID], merged.ended == nil {
                    merged.ended = old.ended
                    merged.endedAt = old.endedAt
                }
                s.legs[r.legID] = merged
                if !r.telemetry.isEmpty {
                    var summary = s.signals[r.legID] ?? SignalSummary()
                    for t in r.telemetry { summary.add(t) }
                    s.signals[r.legID] = summary
                    if r.role == .robot { s.freshTelemetry[r.device] = r.telemetry.last }
                }
                for (tid, t) in r.requests { s.pending[tid] = (t, r.role) }
                for (tid, t) in r.responses {
                    // A response from this leg answers the other side's request: that half of the path.
                    guard let (sent, role) = s.pending.removeValue(forKey: tid), role != r.role, t >= sent,
                        var session = s.sessions[r.device]
                    else { continue }
                    let half = Double(t - sent) / 1000  // ms
                    if r.role == .robot { session.robotHalf.append(half) } else { session.appHalf.append(half) }
                    s.sessions[r.device] = session
                }
            }
            if s.pending.count > 4096 { s.pending.removeAll() }
        }
    }

    /// Starts, continues and ends sessions; returns the records due. `now` is monotonic
    /// microseconds (the clock of the leg reports), `unix` wall-clock seconds.
    public func tick(now: Int64, unix: Double, shutdown: Bool = false) -> [SessionRecord] {
        state.withLock { s in
            var records: [SessionRecord] = []
            for id in s.retired where s.legs[id]?.ended != nil { s.forget(id) }
            Self.extendTrails(&s, unix: unix)
            // One pass over the legs, not one per device: this runs every second under the lock.
            let current = s.legs.values.filter { !s.retired.contains($0.legID) }
            for (device, legs) in Dictionary(grouping: current, by: \.device) {
                let live = legs.filter { $0.ended == nil }
                let liveRobot = live.contains { $0.role == .robot }
                let liveApp = live.contains { $0.role == .app }
                if s.sessions[device] == nil {
                    // A session needs both sides, and traffic.
                    guard liveRobot && liveApp, live.contains(where: { $0.packets > 0 }), !shutdown else {
                        // Forget legs that ended with no session to belong to.
                        for leg in legs where leg.ended != nil { s.forget(leg.legID) }
                        continue
                    }
                    s.sessions[device] = Session(id: Self.newID(), startUnix: unix, lastInterimUnix: unix)
                }
                guard var session = s.sessions[device] else { continue }
                session.legs.formUnion(legs.map(\.legID))
                var mine = session.legs.compactMap { s.legs[$0] }
                if session.handshakeDoneAt == nil {
                    let robotDone = mine.filter { $0.role == .robot }.compactMap(\.dtlsCompletedAt).max()
                    let appDone = mine.filter { $0.role == .app }.compactMap(\.dtlsCompletedAt).max()
                    if let robotDone, let appDone { session.handshakeDoneAt = max(robotDone, appDone) }
                }
                var reason: String?
                var nextCall: [LegReport] = []
                if shutdown {
                    reason = "shutdown"
                } else if let done = session.handshakeDoneAt, live.contains(where: { ($0.dtlsStartedAt ?? 0) > done }) {
                    // A new DTLS handshake: a new call. Its legs (the new hello's, and live legs that
                    // have not shown a handshake yet) start the next session; the rest are this call's.
                    reason = "new-call"
                    nextCall = live.filter { $0.dtlsStartedAt.map { $0 > done } ?? true }
                    let next = Set(nextCall.map(\.legID))
                    mine.removeAll { next.contains($0.legID) }
                    session.legs.subtract(next)
                } else if !liveRobot && !liveApp, let first = Self.bothDeleted(mine) {
                    // Both sides hung up: no reconnect to wait for.
                    reason = first == .robot ? "robot-left" : "app-left"
                } else if !liveRobot || !liveApp {
                    let role: Identity.Role = liveRobot ? .app : .robot
                    if session.missingSince == nil || session.missingRole != role {
                        session.missingSince = now
                        session.missingRole = role
                    }
                    if Double(now - (session.missingSince ?? now)) >= settings.idleTimeout * 1_000_000 {
                        reason = role == .robot ? "robot-left" : "app-left"
                    }
                } else {
                    session.missingSince = nil
                    let last = mine.map(\.lastActivity).max() ?? now
                    if Double(now - last) >= settings.idleTimeout * 1_000_000 { reason = "idle" }
                }
                if let reason {
                    records.append(record(session, device: device, legs: mine, signals: s.signals, unix: unix, final: reason))
                    s.sessions[device] = nil
                    for id in session.legs {
                        if s.legs[id]?.ended != nil { s.forget(id) } else { s.retired.insert(id) }
                    }
                    continue
                }
                if unix - session.lastInterimUnix >= settings.interimInterval {
                    records.append(record(session, device: device, legs: mine, signals: s.signals, unix: unix, final: nil))
                    session.lastInterimUnix = unix
                }
                s.sessions[device] = session
            }
            return records
        }
    }

    /// Moves the telemetry that arrived since the last tick into the devices' trails, and forgets
    /// what is older than `trailSeconds`.
    static func extendTrails(_ s: inout State, unix: Double) {
        for (device, t) in s.freshTelemetry {
            s.trails[device, default: []].append(
                SignalPoint(unix: unix, wifiRSSI: t.wifiRSSI.map(Double.init), rsrp: t.rsrp.map(Double.init)))
        }
        s.freshTelemetry.removeAll()
        for (device, trail) in s.trails where trail.first.map({ $0.unix < unix - trailSeconds }) ?? true {
            let kept = trail.filter { $0.unix >= unix - trailSeconds }
            s.trails[device] = kept.isEmpty ? nil : kept
        }
    }

    /// When every side's last allocation was deleted by its client (not expired): the side that
    /// left first. Nil while a side may still come back.
    static func bothDeleted(_ legs: [LegReport]) -> Identity.Role? {
        func last(_ role: Identity.Role) -> LegReport? {
            legs.filter { $0.role == role }.max { ($0.endedAt ?? 0) < ($1.endedAt ?? 0) }
        }
        guard let robot = last(.robot), let app = last(.app), let r = robot.ended, let a = app.ended,
            r != .expired, a != .expired
        else { return nil }
        return (robot.endedAt ?? 0) <= (app.endedAt ?? 0) ? .robot : .app
    }

    static func newID() -> String {
        var g = SystemRandomNumberGenerator()
        return String(format: "%016llx%016llx", g.next() as UInt64, g.next() as UInt64)
    }

    static func iso(_ unix: Double) -> String {
        SessionRecord.timestamp(Date(timeIntervalSince1970: unix))
    }

    func record(
        _ session: Session, device: String, legs: [LegReport], signals: [UInt64: SignalSummary], unix: Double, final reason: String?
    ) -> SessionRecord {
        func direction(_ role: Identity.Role) -> [String: SessionRecord.StreamSummary] {
            var byKind: [String: [TrafficAnalyzer.Stream]] = [:]
            for leg in legs where leg.role == role { for st in leg.streams { byKind[st.kind, default: []].append(st) } }
            return byKind.mapValues { streams in
                let expected = streams.reduce(0) { $0 + $1.expected }
                let lost = streams.reduce(0) { $0 + $1.lost }
                let bytes = streams.reduce(0) { $0 + $1.bytes }
                let rate = streams.first?.clockRate
                // Rates over the time streams were alive: streams that overlap add up (bitrate),
                // streams one after another do not; the frame rate is per stream, weighted by
                // how long each lived.
                let alive = Self.unionMillis(streams.map { ($0.firstArrival, $0.lastArrival) })
                let lived = Double(streams.reduce(0) { $0 + $1.durationMillis })
                let frames = streams.reduce(0) { $0 + $1.markers }
                return SessionRecord.StreamSummary(
                    streams: streams.count, packets: streams.reduce(0) { $0 + $1.packets }, bytes: bytes, expected: expected, lost: lost,
                    lossPercent: round2(expected > 0 ? 100 * Double(lost) / Double(expected) : 0),
                    jitterMillis: round2(1000 * (streams.map(\.jitterSeconds).max() ?? 0)),
                    bitrateKbps: round2(alive > 0 ? Double(bytes) * 8 / alive : 0),
                    frameRate: rate == 90_000 && lived > 0 ? round2(Double(frames) * 1000 / lived) : nil, clockRateHz: rate)
            }
        }
        let directions = ["robot_to_app": direction(.robot), "app_to_robot": direction(.app)]
        let rtt = Self.rtt(robotHalf: session.robotHalf, appHalf: session.appHalf)
        let hellos = legs.compactMap(\.dtlsStartedAt)
        let completions = legs.compactMap(\.dtlsCompletedAt)
        let completed = legs.filter { $0.dtlsCompletedAt != nil }.map(\.role)
        let dtlsDone = completed.contains(.robot) && completed.contains(.app)
        let summaries = directions.values.flatMap(\.values)
        let worstLoss = summaries.map(\.lossPercent).max() ?? 0
        let worstJitter =
            summaries.filter { $0.clockRateHz == 48_000 }.map(\.jitterMillis).max() ?? summaries.map(\.jitterMillis).max() ?? 0
        let mos = QualityModel.mos(lossPercent: worstLoss, jitterMillis: worstJitter, rttMillis: rtt.p50 ?? 0)
        var signal = SignalSummary()
        for leg in legs where leg.role == .robot { if let summary = signals[leg.legID] { signal.merge(summary) } }
        let transports = Dictionary(legs.map { ($0.role.rawValue, "\($0.transport)") }, uniquingKeysWith: { _, last in last })
        var mobility: [String: SessionRecord.Mobility] = [:]
        for leg in legs where leg.moves > 0 {
            let before = mobility[leg.role.rawValue]
            mobility[leg.role.rawValue] = .init(
                moves: (before?.moves ?? 0) + leg.moves,
                longestGapMillis: max(before?.longestGapMillis ?? 0, round2(Double(leg.longestMoveGap) / 1000)))
        }
        return SessionRecord(
            type: reason == nil ? "interim" : "final", sessionID: session.id, deviceID: device,
            start: Self.iso(session.startUnix),
            end: Self.iso(unix), durationSeconds: round2(unix - session.startUnix),
            endReason: reason, transports: transports, directions: directions, rttMillis: rtt,
            dtls: .init(
                handshakeSeen: !hellos.isEmpty, completed: dtlsDone,
                handshakeMillis: dtlsDone ? hellos.min().flatMap { h in completions.max().map { round2(Double($0 - h) / 1000) } } : nil),
            quality: .init(mos: mos, grade: QualityModel.grade(mos)),
            signal: .init(
                samples: signal.samples,
                ranges: signal.ranges.mapValues { .init(min: $0.min, avg: $0.avg, max: $0.max) },
                wifiBand: signal.wifiBand.map { ["1": "2.4GHz", "2": "5GHz", "3": "6GHz"]["\($0)"] ?? "other" },
                radioType: signal.radioType.map { ["1": "lte", "2": "nr", "3": "umts", "4": "gsm"]["\($0)"] ?? "other" },
                operatorCode: signal.operatorCode),
            mobility: mobility.isEmpty ? nil : mobility)
    }

    /// Milliseconds covered by the union of `[first, last]` intervals (monotonic µs).
    static func unionMillis(_ intervals: [(Int64, Int64)]) -> Double {
        var total: Int64 = 0
        var end = Int64.min
        for (first, last) in intervals.sorted(by: { $0.0 < $1.0 }) {
            if first > end {
                total += last - first
                end = last
            } else if last > end {
                total += last - end
                end = last
            }
        }
        return Double(total) / 1000
    }

    /// End-to-end RTT: each consent check crosses the relay twice, so the relay sees the two
    /// halves (relay↔robot, relay↔app); a percentile of the whole is the sum of the halves'.
    static func rtt(robotHalf: [Double], appHalf: [Double]) -> SessionRecord.RTTSummary {
        func p(_ v: [Double], _ q: Double) -> Double? {
            guard !v.isEmpty else { return nil }
            let s = v.sorted()
            return s[min(s.count - 1, Int(Double(s.count - 1) * q + 0.5))]
        }
        func sum(_ q: Double) -> Double? {
            guard let a = p(robotHalf, q) ?? p(appHalf, q) else { return nil }
            let b = robotHalf.isEmpty || appHalf.isEmpty ? 0 : (p(appHalf, q) ?? 0)
            return round2(robotHalf.isEmpty ? a : a + b)
        }
        return .init(
            samples: min(robotHalf.count, appHalf.count) > 0 ? min(robotHalf.count, appHalf.count) : max(robotHalf.count, appHalf.count),
            p50: sum(0.5), p90: sum(0.9), p99: sum(0.99))
    }
}

func round2(_ v: Double) -> Double { (v * 100).rounded() / 100 }
