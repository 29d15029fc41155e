import Dispatch
import Foundation
import Glibc
import Logging
import STUN
import Sockets
import TURN

/// Fleet membership from DNS (`fleet-dns`): the A/AAAA records of a name — in Kubernetes the
/// headless Service of ready pods — are the live members, each named by its IP and reached on
/// this relay's own ports. Looked up every `fleet-refresh` seconds off the packet path; a change
/// is pushed to the workers and logged (counts only). A failed lookup keeps the last view.
public struct FleetDiscovery: Sendable {
    public let name: String
    /// Members' ports: this relay's own UDP/TCP port and TLS port (every member runs the same
    /// configuration).
    public let port: UInt16
    public let tlsPort: UInt16?
    let resolve: @Sendable (String) -> [IPAddress]?

    public init(name: String, port: UInt16, tlsPort: UInt16?, resolve: @escaping @Sendable (String) -> [IPAddress]? = Self.lookUp) {
        self.name = name
        self.port = port
        self.tlsPort = tlsPort
        self.resolve = resolve
    }

    /// The members the name resolves to now, sorted; nil when the lookup failed.
    public func members() -> [FleetMember]? {
        guard let ips = resolve(name) else { return nil }
        return Set(ips).sorted { "\($0)" < "\($1)" }.map { ip in
            FleetMember(
                name: "\(ip)", address: TransportAddress(ip: ip, port: port), tls: tlsPort.map { TransportAddress(ip: ip, port: $0) })
        }
    }

    /// getaddrinfo(3): every A and AAAA record of `name` (numeric addresses pass through).
    public static func lookUp(_ name: String) -> [IPAddress]? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &result) == 0, let first = result else { return nil }
        defer { freeaddrinfo(first) }
        var out: [IPAddress] = []
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let n = node {
            if let sa = n.pointee.ai_addr {
                let storage = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<sockaddr_storage>.size, alignment: 8)
                defer { storage.deallocate() }
                storage.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<sockaddr_storage>.size)
                storage.copyMemory(from: sa, byteCount: Int(n.pointee.ai_addrlen))
                if let a = SocketAddress.transportAddress(storage.assumingMemoryBound(to: sockaddr_storage.self)) {
                    out.append(a.ip)
                }
            }
            node = n.pointee.ai_next
        }
        return out
    }
}
