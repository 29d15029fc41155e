import AV1Endpoint
import Foundation
import Synchronization

/// Hands an endpoint thread's report to the main thread.
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
