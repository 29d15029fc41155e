import AV1Endpoint
import Foundation
import Synchronization

/// A flag set once, read from another thread.
final class ManagedAtomicFlag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}

/// Hands the robot thread's report to the main thread.
final class ReportBox: Sendable {
    private let report = Mutex<EndpointReport?>(nil)
    private let done = DispatchSemaphore(value: 0)

    func set(_ r: EndpointReport) {
        report.withLock { $0 = r }
        done.signal()
    }

    func wait() -> EndpointReport {
        done.wait()
        guard let r = report.withLock({ $0 }) else { preconditionFailure("the endpoint thread set no report") }
        return r
    }
}

/// `av1sim load`: every pair's report.
struct LoadReport: Encodable {
    var pairs: [PairReport]
    var ok: Int
}
