import STUN

/// What another worker needs to deliver to an allocation's client directly (DESIGN §4 "hairpin"):
/// where the client is, and the allocation's permissions and channels, copied whenever they
/// change. Only UDP clients publish one; a stream's connection belongs to its own worker.
public struct HairpinRoute: Sendable {
    public var client: TransportAddress
    /// The listening address the client talks to (any worker's listener on it can send for it).
    public var server: TransportAddress
    public var permissions: [IPAddress: Int64]
    public var channels: [TransportAddress: (number: UInt16, expiry: Int64)]
    /// Under pairing, the exact partner addresses allowed.
    public var pairedPeers: Set<TransportAddress>?

    /// What the allocation does with a datagram from `source` now, as its own relay socket would:
    /// refuse it, or hand it to its client on a channel (if one is bound) or as a Data indication.
    /// Decided where the route is kept, so a packet costs a lookup, not a copy of the route.
    public func delivery(from source: TransportAddress, now: Int64) -> HairpinDelivery {
        guard let e = permissions[source.ip], e > now else { return .refused(.noPermission) }
        guard pairedPeers?.contains(source) ?? true else { return .refused(.notPartner) }
        let channel = channels[source].flatMap { $0.expiry > now ? $0.number : nil }
        return .deliver(client: client, server: server, channel: channel)
    }
}

/// The outcome of sending to one of this relay's own relayed addresses.
public enum HairpinDelivery: Sendable {
    /// Not a relayed address of a UDP allocation here: send it the ordinary way.
    case notOurs
    /// That allocation would drop it (no permission, or not its partner).
    case refused(DropReason)
    /// Give it to that allocation's client, from a listener on `server`.
    case deliver(client: TransportAddress, server: TransportAddress, channel: UInt16?)
}

extension Allocation {
    var hairpinRoute: HairpinRoute? {
        guard fiveTuple.transport == .udp else { return nil }
        var channels: [TransportAddress: (number: UInt16, expiry: Int64)] = [:]
        for (number, channel) in channelsByNumber { channels[channel.peer] = (number, channel.expiry) }
        return HairpinRoute(
            client: fiveTuple.client, server: fiveTuple.server, permissions: permissions, channels: channels,
            pairedPeers: pairing == nil ? nil : pairedPeers)
    }
}

extension TURNEngine {
    /// Tells the other workers how to reach this allocation's client (after any change to its
    /// permissions or channels), or that they cannot any more.
    func publishRoute(_ allocation: Allocation, removed: Bool = false) {
        guard configuration.hairpin else { return }
        resources.publishRoute(removed ? nil : allocation.hairpinRoute, for: allocation.relays.map(\.address))
    }

    /// Delivers a payload addressed to one of this relay's relayed addresses straight to that
    /// allocation's client, exactly as if it had come through the kernel to that relay socket.
    /// Returns false when the destination is not ours (or is a stream client), so the caller sends
    /// it the ordinary way.
    mutating func hairpin(
        _ payload: UnsafeRawBufferPointer, from source: TransportAddress, to peer: TransportAddress, now: TURNTime, out: Outbox
    )
        -> Bool
    {
        guard configuration.hairpin, configuration.peerPolicy.ownAddresses.contains(peer.ip) else { return false }
        switch resources.hairpinDelivery(to: peer, from: source, now: now.millis) {
        case .notOurs:
            return false
        case .refused(let reason):
            stats.hairpinned += 1
            drop(reason)  // its relay socket would have dropped it too
            return true
        case .deliver(let client, let server, let channel):
            guard let socket = resources.listenerSocket(for: server) else { return false }
            stats.hairpinned += 1
            deliverToClient(payload, from: source, channel: channel, socket: socket, client: client, padded: false, out: out)
            return true
        }
    }
}
