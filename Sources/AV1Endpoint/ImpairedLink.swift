/// An endpoint's `Impairment` applied to its media: decides each datagram's fate and holds the
/// delayed ones until they are due.
///
/// Delay is the configured delay plus a random extra up to the jitter, and a datagram never
/// leaves before one sent earlier: a jittery link that does not reorder, so the receivers' loss
/// figures mean loss, not reordering.
struct ImpairedLink {
    /// What becomes of one media datagram.
    enum Fate: Equatable {
        /// Dropped on purpose, as `Impairment.loss` asks.
        case dropped
        /// Held, to leave with `release(now:)` once due.
        case held
        /// Sent now: no impairment applies.
        case sendNow
    }

    let impairment: Impairment
    private var held: [(due: Double, bytes: [UInt8])] = []
    private var rng = SystemRandomNumberGenerator()

    init(_ impairment: Impairment) { self.impairment = impairment }

    /// Decides the fate of a media datagram sent at `now` (seconds); a held one is kept here.
    mutating func admit(_ datagram: [UInt8], now: Double) -> Fate {
        if impairment.loss > 0 && Double.random(in: 0..<1, using: &rng) < impairment.loss { return .dropped }
        guard impairment.delayMillis > 0 || impairment.jitterMillis > 0 else { return .sendNow }
        let extra = impairment.delayMillis + Double.random(in: 0...max(0, impairment.jitterMillis), using: &rng)
        let due = max(now + extra / 1000, held.last?.due ?? 0)
        held.append((due, datagram))
        return .held
    }

    /// The held datagrams due by `now`, in the order they were sent.
    mutating func release(now: Double) -> [[UInt8]] {
        guard !held.isEmpty else { return [] }
        let due = held.filter { $0.due <= now }.map(\.bytes)
        held.removeAll { $0.due <= now }
        return due
    }
}
