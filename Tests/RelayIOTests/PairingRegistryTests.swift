import RelayIO
import STUN
import TURN
import Testing

/// `PairingRegistry` (Sources/RelayIO/PairingRegistry.swift): which addresses each device's
/// robot and app allocations have, as CreatePermission and ChannelBind look them up (DESIGN §4).
@Suite("Pairing registry")
struct PairingRegistryTests {
    static func address(_ text: String) -> TransportAddress { TransportAddress(text)! }

    static let robotA = PairingEntry(device: "A", role: .robot, addresses: [address("127.0.0.1:20001"), address("198.51.100.7:4000")])
    static let appA = PairingEntry(device: "A", role: .app, addresses: [address("127.0.0.1:20002"), address("203.0.113.9:5000")])
    static let appB = PairingEntry(device: "B", role: .app, addresses: [address("127.0.0.1:20003")])

    @Test func addressesAreFoundByDeviceAndRoleOnly() {
        let registry = PairingRegistry()
        #expect(registry.addresses(device: "A", role: .robot).isEmpty && registry.devices == 0)
        for e in [Self.robotA, Self.appA, Self.appB] { registry.register(e) }
        #expect(registry.devices == 2)
        #expect(registry.addresses(device: "A", role: .robot) == Set(Self.robotA.addresses))
        #expect(registry.addresses(device: "A", role: .app) == Set(Self.appA.addresses))
        #expect(registry.addresses(device: "B", role: .app) == Set(Self.appB.addresses))
        #expect(registry.addresses(device: "B", role: .robot).isEmpty)  // B's robot has no allocation
        #expect(registry.addresses(device: "a", role: .robot).isEmpty)  // device ids are exact
    }

    @Test func severalAllocationsOfOneRoleAreAllFound() {
        let registry = PairingRegistry()
        let tcpApp = PairingEntry(device: "A", role: .app, addresses: [Self.address("127.0.0.1:20009")])
        registry.register(Self.appA)
        registry.register(tcpApp)
        #expect(registry.addresses(device: "A", role: .app) == Set(Self.appA.addresses + tcpApp.addresses))
        registry.unregister(Self.appA)
        #expect(registry.addresses(device: "A", role: .app) == Set(tcpApp.addresses))
    }

    @Test func unregisteringTheLastEntryForgetsTheDevice() {
        let registry = PairingRegistry()
        registry.register(Self.robotA)
        registry.register(Self.appA)
        registry.unregister(Self.robotA)
        #expect(registry.devices == 1 && registry.addresses(device: "A", role: .robot).isEmpty)
        registry.unregister(Self.appA)
        #expect(registry.devices == 0 && registry.addresses(device: "A", role: .app).isEmpty)
    }

    @Test func unregisteringWhatIsNotThereChangesNothing() {
        let registry = PairingRegistry()
        registry.register(Self.robotA)
        registry.unregister(Self.appB)  // unknown device
        registry.unregister(PairingEntry(device: "A", role: .robot, addresses: [Self.address("127.0.0.1:1")]))  // other addresses
        #expect(registry.devices == 1 && registry.addresses(device: "A", role: .robot) == Set(Self.robotA.addresses))
    }

    @Test func eachRegistrationIsUndoneByOneUnregistration() {
        let registry = PairingRegistry()
        registry.register(Self.robotA)
        registry.register(Self.robotA)
        registry.unregister(Self.robotA)
        #expect(registry.addresses(device: "A", role: .robot) == Set(Self.robotA.addresses))
        registry.unregister(Self.robotA)
        #expect(registry.devices == 0)
    }
}
