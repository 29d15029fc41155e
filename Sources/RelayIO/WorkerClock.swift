import CAV1Shim
import Glibc
import Synchronization
import TURN

/// Where a worker reads the time: its ticks, stream timeouts, reservations and every packet's
/// instant. The system clock in production; tests drive a `ManualClock` instead of sleeping,
/// as the engine's own tests pass explicit instants.
public struct WorkerClock: Sendable {
    private let read: @Sendable () -> TURNTime

    public init(_ read: @escaping @Sendable () -> TURNTime) { self.read = read }

    /// Monotonic time from the kernel, wall-clock seconds beside it.
    public static let system = WorkerClock {
        let micros = av1_monotonic_us()
        return TURNTime(millis: micros / 1000, unixSeconds: Int64(time(nil)), micros: micros)
    }

    /// A clock that moves only when told.
    public static func manual(_ clock: ManualClock) -> WorkerClock { WorkerClock { clock.now } }

    @inline(__always)
    public func now() -> TURNTime { read() }
}

/// A clock for tests: starts at a fixed instant and moves by `advance`.
public final class ManualClock: Sendable {
    private let time: Mutex<TURNTime>

    public init(start: TURNTime = TURNTime(millis: 1_000_000, unixSeconds: 1_800_000_000)) { time = Mutex(start) }

    public var now: TURNTime { time.withLock { $0 } }

    public func advance(seconds: Int64) { time.withLock { $0 = $0.adding(seconds: seconds) } }

    public func advance(millis: Int64) {
        time.withLock { $0 = TURNTime(millis: $0.millis + millis, unixSeconds: $0.unixSeconds, micros: $0.micros + millis * 1000) }
    }
}
