import CAV1Shim
import Glibc
import STUN

/// Conversions between the engine's `TransportAddress` and the kernel's `sockaddr`.
public enum SocketAddress {
    /// Reads a `sockaddr_in`/`sockaddr_in6`; `nil` for other families.
    @inline(__always)
    public static func transportAddress(_ storage: UnsafePointer<sockaddr_storage>) -> TransportAddress? {
        switch Int32(storage.pointee.ss_family) {
        case AF_INET:
            return UnsafeRawPointer(storage).withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                TransportAddress(ip: .v4(UInt32(bigEndian: sin.pointee.sin_addr.s_addr)), port: UInt16(bigEndian: sin.pointee.sin_port))
            }
        case AF_INET6:
            return UnsafeRawPointer(storage).withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                let raw = UnsafeRawPointer(sin6).advanced(by: MemoryLayout<sockaddr_in6>.offset(of: \sockaddr_in6.sin6_addr)!)
                let hi = UInt64(bigEndian: raw.loadUnaligned(as: UInt64.self))
                let lo = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
                return TransportAddress(ip: .v6(hi: hi, lo: lo), port: UInt16(bigEndian: sin6.pointee.sin6_port))
            }
        default:
            return nil
        }
    }

    /// Writes `address` into `storage`; returns the length to pass to the kernel.
    @inline(__always)
    public static func write(_ address: TransportAddress, into storage: UnsafeMutablePointer<sockaddr_storage>) -> socklen_t {
        switch address.ip {
        case .v4(let a):
            return UnsafeMutableRawPointer(storage).withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                sin.pointee = sockaddr_in()
                sin.pointee.sin_family = sa_family_t(AF_INET)
                sin.pointee.sin_port = address.port.bigEndian
                sin.pointee.sin_addr.s_addr = a.bigEndian
                return socklen_t(MemoryLayout<sockaddr_in>.size)
            }
        case .v6(let hi, let lo):
            return UnsafeMutableRawPointer(storage).withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                sin6.pointee = sockaddr_in6()
                sin6.pointee.sin6_family = sa_family_t(AF_INET6)
                sin6.pointee.sin6_port = address.port.bigEndian
                let raw = UnsafeMutableRawPointer(sin6).advanced(by: MemoryLayout<sockaddr_in6>.offset(of: \sockaddr_in6.sin6_addr)!)
                raw.storeBytes(of: hi.bigEndian, as: UInt64.self)
                raw.storeBytes(of: lo.bigEndian, toByteOffset: 8, as: UInt64.self)
                return socklen_t(MemoryLayout<sockaddr_in6>.size)
            }
        }
    }

    /// A bound, nonblocking UDP socket; `reusePort` lets every worker bind the same listener.
    public static func bindUDP(_ address: TransportAddress, reusePort: Bool) -> Result<Int32, SocketError> {
        var storage = sockaddr_storage()
        let length = write(address, into: &storage)
        let fd = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { av1_udp_socket($0, length, reusePort ? 1 : 0) }
        }
        return fd >= 0 ? .success(fd) : .failure(SocketError(operation: "bind \(address)", errno: -fd))
    }

    /// The address a socket is bound to (the port the kernel chose for port 0).
    public static func localAddress(_ fd: Int32) -> TransportAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(0)
        guard av1_local_address(fd, &storage, &length) == 0 else { return nil }
        return transportAddress(&storage)
    }
}

/// A failed socket call, with the operation and the system's reason.
public struct SocketError: Error, CustomStringConvertible, Sendable {
    public var operation: String
    public var errno: Int32
    public var description: String { "\(operation): \(String(cString: strerror(errno)))" }
    /// The process or the system is out of file descriptors or memory: no other port or address
    /// would fare better until some are freed.
    public var isResourceShortage: Bool { Self.isResourceShortage(errno) }

    public static func isResourceShortage(_ errno: Int32) -> Bool {
        switch errno {
        case EMFILE, ENFILE, ENOBUFS, ENOMEM: true
        default: false
        }
    }
}

extension SocketAddress {
    /// A bound, listening, nonblocking TCP socket; `reusePort` lets every worker accept on it.
    public static func listenTCP(_ address: TransportAddress, reusePort: Bool, backlog: Int32 = 1024) -> Result<Int32, SocketError> {
        var storage = sockaddr_storage()
        let length = write(address, into: &storage)
        let fd = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { av1_tcp_listener($0, length, reusePort ? 1 : 0, backlog) }
        }
        return fd >= 0 ? .success(fd) : .failure(SocketError(operation: "listen \(address)", errno: -fd))
    }
}
