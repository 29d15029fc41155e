/// Why an endpoint's call could not go on; it ends up in the report's `error`.
struct EndpointError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
