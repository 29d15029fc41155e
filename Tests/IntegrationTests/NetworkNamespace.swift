import Foundation
import Glibc

/// A network namespace a test creates and removes (`ip netns`, as root): its loopback up, and a
/// veth pair (both ends inside) carrying `addresses` (/24 each) on `v0`, so programs in it have
/// addresses that are not loopback. Programs run in it through `command`.
final class NetworkNamespace {
    let name: String
    static let ip = "/usr/sbin/ip"

    /// Whether this machine lets the tests create namespaces (root, a kernel that allows it,
    /// iproute2 installed): tried once.
    static let available: Bool = {
        guard let probe = try? NetworkNamespace(addresses: []) else { return false }
        _ = probe
        return true
    }()

    init(addresses: [String]) throws {
        name = "av1t-\(getpid())-\(UInt32.random(in: 0...UInt32.max) % 100_000)"
        try Self.run(["netns", "add", name])
        do {
            for step in [["link", "set", "lo", "up"], ["link", "add", "v0", "type", "veth", "peer", "name", "v1"]]
                + addresses.map({ ["addr", "add", "\($0)/24", "dev", "v0"] }) + [
                    ["link", "set", "v0", "up"], ["link", "set", "v1", "up"],
                ]
            {
                try Self.run(["-n", name] + step)
            }
        } catch {
            try? Self.run(["netns", "del", name])
            throw error
        }
    }

    deinit { try? Self.run(["netns", "del", name]) }

    /// `executable arguments` run inside the namespace: the path and arguments to start.
    func command(_ executable: String, _ arguments: [String]) -> (String, [String]) {
        (Self.ip, ["netns", "exec", name, executable] + arguments)
    }

    static func run(_ arguments: [String]) throws {
        let p = try Child(ip, arguments)
        guard p.wait(seconds: 30) == 0 else { throw TestError("ip \(arguments.joined(separator: " ")): \(p.text)") }
    }
}
