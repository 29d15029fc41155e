import AV1Endpoint

/// `av1sim load`: every pair's report.
struct LoadReport: Encodable {
    var pairs: [PairReport]
    var ok: Int
}
