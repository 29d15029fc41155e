import Foundation
import Sessions
import Synchronization
import TURN

/// Refusals (error responses) by code, summed over methods, at one instant.
struct RefusalSample: Sendable {
    var unix: Double
    var byCode: [Int]
}

/// What the metrics and the status page read besides the workers' counters: outcomes of ended
/// sessions, refusals over the last hour, the devices online.
extension RelayServer {
    /// Outcomes of every session that ended since the relay started.
    public func sessionOutcomes() -> SessionOutcomes { outcomes.withLock { $0 } }

    /// Devices with a live allocation here: device → which sides.
    public func onlineDevices() -> [String: (robot: Bool, app: Bool)] { sessions.onlineDevices() }

    /// Refusals by error code over the last hour (or since start, if that is shorter), from the
    /// minute samples and the counters now; codes with none are left out.
    /// `events`: the workers' counts now (from a snapshot the caller takes anyway).
    public func refusalsLastHour(_ events: TURNEventCounts, now unix: Double = Date().timeIntervalSince1970) -> [(code: String, count: Int)]
    {
        let current = Self.byCode(events)
        let base = refusalSamples.withLock { samples in samples.first { $0.unix >= unix - 3600 } ?? samples.last }
        let codes = TURNEventCounts.codes.map(String.init) + ["other"]
        return codes.indices.compactMap { i in
            let n = current[i] - (base?.byCode[i] ?? 0)
            return n > 0 ? (codes[i], n) : nil
        }
    }

    /// Takes a sample of the refusal counters; keeps an hour and a minute of them.
    func sampleRefusals(now unix: Double = Date().timeIntervalSince1970) {
        let sample = RefusalSample(unix: unix, byCode: Self.byCode(snapshot().events))
        refusalSamples.withLock { samples in
            samples.append(sample)
            samples.removeAll { $0.unix < unix - 3660 }
        }
    }

    static func byCode(_ events: TURNEventCounts) -> [Int] {
        let codes = TURNEventCounts.codes.count + 1
        return (0..<codes).map { c in (0..<TURNEventCounts.methods.count + 1).reduce(0) { $0 + events.refusals(method: $1, code: c) } }
    }
}
