import Foundation
import Synchronization

/// Signalling between the two ends: each publishes its relayed address, ICE credentials and
/// certificate fingerprint and waits for the other's.
public protocol PeerExchange: Sendable {
    func publish(_ role: EndpointRole, _ info: PeerInfo)
    func awaitPeer(of role: EndpointRole, timeout: Double) -> PeerInfo?
}

/// Both ends in one process (`av1sim pair`).
public final class MemoryExchange: PeerExchange {
    private let infos = Mutex<[EndpointRole: PeerInfo]>([:])

    public init() {}

    public func publish(_ role: EndpointRole, _ info: PeerInfo) { infos.withLock { $0[role] = info } }

    public func awaitPeer(of role: EndpointRole, timeout: Double) -> PeerInfo? {
        let other: EndpointRole = role == .robot ? .app : .robot
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let info = infos.withLock({ $0[other] }) { return info }
            usleep(10_000)
        }
        return nil
    }
}

/// Two processes (`av1sim robot` and `av1sim app`): JSON files `robot.json` and `app.json` in a
/// directory both can read.
public final class FileExchange: PeerExchange {
    let directory: String

    public init(directory: String) { self.directory = directory }

    func path(_ role: EndpointRole) -> String { "\(directory)/\(role.rawValue).json" }

    public func publish(_ role: EndpointRole, _ info: PeerInfo) {
        guard let data = try? JSONEncoder().encode(info) else { return }
        let temporary = path(role) + ".tmp"
        _ = FileManager.default.createFile(atPath: temporary, contents: data)
        _ = rename(temporary, path(role))  // readers never see half a file
    }

    public func awaitPeer(of role: EndpointRole, timeout: Double) -> PeerInfo? {
        let other: EndpointRole = role == .robot ? .app : .robot
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let data = FileManager.default.contents(atPath: path(other)), let info = try? JSONDecoder().decode(PeerInfo.self, from: data)
            {
                return info
            }
            usleep(50_000)
        }
        return nil
    }
}
