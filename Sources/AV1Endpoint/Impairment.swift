/// Send-side impairment, so what the relay measures can be checked against what was done.
public struct Impairment: Sendable, Codable {
    /// Fraction of media packets dropped at random, 0 to 1.
    public var loss = 0.0
    /// Delay added to every media packet, in milliseconds.
    public var delayMillis = 0.0
    /// A random extra delay up to this many milliseconds, on top of `delayMillis`.
    public var jitterMillis = 0.0

    public init(loss: Double = 0, delayMillis: Double = 0, jitterMillis: Double = 0) {
        self.loss = loss
        self.delayMillis = delayMillis
        self.jitterMillis = jitterMillis
    }
}
