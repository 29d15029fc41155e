/// The engine's notion of now: a monotonic clock for lifetimes and the wall clock for
/// credentials that carry a Unix expiry. Tests pass explicit instants.
public struct TURNTime: Sendable, Hashable {
    /// Monotonic milliseconds (any origin).
    public var millis: Int64
    /// Seconds since the Unix epoch.
    public var unixSeconds: Int64
    /// Monotonic microseconds, the same clock as `millis` (session analytics time packets finer).
    public var micros: Int64

    public init(millis: Int64, unixSeconds: Int64, micros: Int64? = nil) {
        self.millis = millis
        self.unixSeconds = unixSeconds
        self.micros = micros ?? millis * 1000
    }

    /// The same instant moved forward by `seconds`.
    public func adding(seconds: Int64) -> TURNTime {
        TURNTime(millis: millis + seconds * 1000, unixSeconds: unixSeconds + seconds, micros: micros + seconds * 1_000_000)
    }
}
