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

    /// Whether `deinit` removes it (not for one another owner made).
    private let owned: Bool

    /// A namespace that exists already (one of a `NATTopology`'s), to run programs in.
    init(existing name: String) {
        self.name = name
        owned = false
    }

    init(addresses: [String]) throws {
        name = "av1t-\(getpid())-\(UInt32.random(in: 0...UInt32.max) % 100_000)"
        owned = true
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

    deinit { if owned { try? Self.run(["netns", "del", name]) } }

    /// `executable arguments` run inside the namespace: the path and arguments to start.
    func command(_ executable: String, _ arguments: [String]) -> (String, [String]) {
        (Self.ip, ["netns", "exec", name, executable] + arguments)
    }

    static func run(_ arguments: [String]) throws {
        let p = try Child(ip, arguments)
        guard p.wait(seconds: 30) == 0 else { throw TestError("ip \(arguments.joined(separator: " ")): \(p.text)") }
    }
}

/// Robots and apps behind NATs (issue 12), in network namespaces the test creates: the relay in
/// `pub` on 198.18.1.1 (UDP/TCP 3478, TLS 443); the robot's LAN 10.1.0.0/24 behind router `n1`
/// and the app's 10.2.0.0/24 behind `n2`, each a symmetric NAT (nftables `masquerade random`:
/// a new external port for every destination, the endpoint-dependent mapping of RFC 4787).
/// `blockUDPForApp`: `n2` drops UDP to the relay, the school firewall that leaves only TLS on 443.
final class NATTopology {
    let suffix = "\(getpid() % 10_000)\(UInt32.random(in: 0...UInt32.max) % 1000)"
    var names: [String] { ["pub", "n1", "n2", "r", "a"].map { $0 + suffix } }
    var pub: String { "pub" + suffix }
    var robotSide: String { "r" + suffix }
    var appSide: String { "a" + suffix }
    static let relayIP = "198.18.1.1"

    init(blockUDPForApp: Bool) throws {
        let block =
            blockUDPForApp
            ? """
            ip netns exec n2$S nft -f - <<NFT
            table ip filter {
              chain forward {
                type filter hook forward priority filter; policy accept;
                ip daddr \(Self.relayIP) meta l4proto udp drop
              }
            }
            NFT
            """ : ""
        let script = """
            set -e
            S=$0
            for n in pub n1 n2 r a; do ip netns add $n$S; ip -n $n$S link set lo up; done
            ip link add p1$S netns pub$S type veth peer name w$S netns n1$S
            ip link add p2$S netns pub$S type veth peer name w$S netns n2$S
            ip -n pub$S addr add \(Self.relayIP)/24 dev p1$S
            ip -n pub$S addr add 198.18.2.1/24 dev p2$S
            ip -n n1$S addr add 198.18.1.2/24 dev w$S
            ip -n n2$S addr add 198.18.2.2/24 dev w$S
            ip link add l$S netns n1$S type veth peer name e$S netns r$S
            ip link add l$S netns n2$S type veth peer name e$S netns a$S
            ip -n n1$S addr add 10.1.0.1/24 dev l$S
            ip -n r$S addr add 10.1.0.2/24 dev e$S
            ip -n n2$S addr add 10.2.0.1/24 dev l$S
            ip -n a$S addr add 10.2.0.2/24 dev e$S
            for pair in "pub p1" "pub p2" "n1 w" "n2 w" "n1 l" "n2 l" "r e" "a e"; do set -- $pair; ip -n $1$S link set $2$S up; done
            ip -n r$S route add default via 10.1.0.1
            ip -n a$S route add default via 10.2.0.1
            ip -n n1$S route add default via 198.18.1.1
            ip -n n2$S route add default via 198.18.2.1
            for n in n1 n2; do
              ip netns exec $n$S sysctl -qw net.ipv4.ip_forward=1
              ip netns exec $n$S nft -f - <<NFT
            table ip nat {
              chain postrouting {
                type nat hook postrouting priority srcnat; policy accept;
                oifname "w$S" masquerade random
              }
            }
            NFT
            done
            \(block)
            """
        let p = try Child("/bin/bash", ["-c", script, suffix])
        guard p.wait(seconds: 60) == 0 else {
            remove()
            throw TestError("building the NAT topology failed: \(p.text)")
        }
    }

    deinit { remove() }

    func remove() {
        for name in names { _ = try? Child(NetworkNamespace.ip, ["netns", "del", name]).wait(seconds: 30) }
    }

    /// `executable arguments` run in namespace `name`.
    func command(in name: String, _ executable: String, _ arguments: [String]) -> (String, [String]) {
        (NetworkNamespace.ip, ["netns", "exec", name, executable] + arguments)
    }

    /// Whether a STUN Binding request from namespace `name` to the relay's UDP port is answered
    /// within a second (the NAT passes UDP), or not (the firewall drops it).
    func udpReachesRelay(from name: String) throws -> Bool {
        let probe = """
            import os, socket, sys
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
            s.sendto(bytes.fromhex("000100002112a442") + os.urandom(12), ("\(Self.relayIP)", 3478))
            try:
                s.recvfrom(1500); sys.exit(0)
            except socket.timeout:
                sys.exit(1)
            """
        let (path, args) = command(in: name, "/usr/bin/python3", ["-c", probe])
        return try Child(path, args).wait(seconds: 20) == 0
    }
}
