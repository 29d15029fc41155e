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

    /// Whether the allocation accepts data from `peer` now (as its own relay socket would).
    func accepts(_ peer: TransportAddress, now: Int64) -> Bool {
        guard let e = permissions[peer.ip], e > now else { return false }
        return pairedPeers?.contains(peer) ?? true
    }
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
    /// allocation's client, as ChannelData or a Data indication from `source`, exactly as if it
    /// had come through the kernel to that relay socket. Returns false when the destination is not
    /// ours (or is a stream client), so the caller sends it the ordinary way.
    mutating func hairpin(
        _ payload: UnsafeRawBufferPointer, from source: TransportAddress, to peer: TransportAddress, now: TURNTime, out: Outbox
    )
        -> Bool
    {
        guard configuration.hairpin, configuration.peerPolicy.ownAddresses.contains(peer.ip), let route = resources.route(to: peer),
            let socket = resources.listenerSocket(for: route.server)
        else { return false }
        stats.hairpinned += 1
        guard route.accepts(source, now: now.millis) else {
            drop(malformed: false)  // its relay socket would have dropped it too
            return true
        }
        if let channel = route.channels[source], channel.expiry > now.millis {
            let size = STUNDataPath.channelDataSize(payload: payload.count, padded: false)
            out.write(socket: socket, to: route.client, maxLength: size) {
                STUNDataPath.writeChannelData(into: $0, channel: channel.number, payload: payload, padded: false)
            }
        } else {
            indicationID.lo &+= 1
            let tid = indicationID
            let size = STUNDataPath.dataIndicationSize(peer: source.family, payload: payload.count)
            out.write(socket: socket, to: route.client, maxLength: size) {
                STUNDataPath.writeDataIndication(into: $0, transactionID: tid, peer: source, payload: payload)
            }
        }
        stats.packetsToClients += 1
        stats.bytesToClients += payload.count
        return true
    }
}
