import Foundation
import Synchronization

/// Elapsed time on a terminal while a long call runs, on a line of standard error that the
/// report on standard output does not share. Shown only on a terminal and for calls over 5 s.
final class ProgressLine: Sendable {
    private let finished = Mutex(false)

    init(showing name: String, duration: Double) {
        guard isatty(STDERR_FILENO) != 0, duration > 5 else { return }
        let start = Date()
        Thread.detachNewThread { [self] in
            while !finished.withLock({ $0 }) {
                FileHandle.standardError.write(
                    Data(String(format: "\r%@ %.0f / %.0f s", name, Date().timeIntervalSince(start), duration).utf8))
                sleep(1)
            }
            FileHandle.standardError.write(Data("\r".utf8))
        }
    }

    /// Ends the line; its thread clears it within a second.
    func stop() { finished.withLock { $0 = true } }
}
