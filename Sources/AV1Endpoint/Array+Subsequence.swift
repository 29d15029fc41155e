extension Array where Element == UInt8 {
    /// Whether `needle` occurs in these bytes: the check that the plaintext canary never appears
    /// in what the relay forwards.
    func contains(_ needle: [UInt8]) -> Bool {
        guard needle.count <= count, let first = needle.first else { return false }
        var i = 0
        while i <= count - needle.count {
            if self[i] == first && self[i..<(i + needle.count)].elementsEqual(needle) { return true }
            i += 1
        }
        return false
    }
}
