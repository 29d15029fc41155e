import Dispatch
import STUN
import Synchronization
import Testing

@testable import RelayIO

/// `ConnectionCounter` (Sources/RelayIO/StreamConnection.swift): the total and per-address caps
/// on TCP/TLS connections, shared by every worker.
@Suite("Connection counter")
struct ConnectionCounterTests {
    static func counter(total: Int, perAddress: Int) -> ConnectionCounter {
        var limits = StreamLimits()
        limits.maxConnections = total
        limits.maxConnectionsPerAddress = perAddress
        return ConnectionCounter(limits: limits)
    }

    static let a = IPAddress.v4(0xC000_0201)
    static let b = IPAddress.v4(0xC000_0202)
    static let c = IPAddress("2001:db8::1")!

    @Test func theTotalCapRefusesEvenANewAddress() {
        let counter = Self.counter(total: 3, perAddress: 64)
        #expect(counter.admit(Self.a) && counter.admit(Self.b) && counter.admit(Self.c))
        #expect(!counter.admit(IPAddress.v4(0xC000_0203)))
        #expect(counter.total == 3)  // a refusal takes no place
        counter.release(Self.b)
        #expect(counter.total == 2 && counter.admit(IPAddress.v4(0xC000_0203)))
    }

    @Test func thePerAddressCapRefusesThatAddressOnly() {
        let counter = Self.counter(total: 100, perAddress: 2)
        #expect(counter.admit(Self.a) && counter.admit(Self.a))
        #expect(!counter.admit(Self.a))
        #expect(counter.admit(Self.b) && counter.admit(Self.c))
        #expect(counter.total == 4)
        counter.release(Self.a)
        #expect(counter.admit(Self.a))
        #expect(!counter.admit(Self.a))
    }

    @Test func releasingEverythingLeavesNothingBehind() {
        let counter = Self.counter(total: 4, perAddress: 2)
        for ip in [Self.a, Self.a, Self.b, Self.c] { #expect(counter.admit(ip)) }
        for ip in [Self.a, Self.a, Self.b, Self.c] { counter.release(ip) }
        #expect(counter.total == 0)
        // Both caps start again from nothing.
        #expect(counter.admit(Self.a) && counter.admit(Self.a) && counter.admit(Self.b) && counter.admit(Self.b))
        #expect(!counter.admit(Self.c))
    }

    @Test func workersAdmittingAtOnceNeverPassTheCap() {
        let counter = Self.counter(total: 50, perAddress: 30)
        let admitted = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 400) { i in
            if counter.admit(i % 2 == 0 ? Self.a : Self.b) { admitted.add(1, ordering: .relaxed) }
        }
        #expect(admitted.load(ordering: .relaxed) == 50 && counter.total == 50)
    }
}
