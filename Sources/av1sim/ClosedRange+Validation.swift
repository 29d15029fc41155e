import ArgumentParser

extension ClosedRange {
    /// Throws a `ValidationError` naming the flag when `value` is out of range: bad arguments
    /// are told apart from a failed call by exit code 2.
    func validate(_ value: Bound, flag: String) throws {
        guard contains(value) else {
            throw ValidationError("--\(flag): \(value) is not a number from \(lowerBound) to \(upperBound)")
        }
    }
}
