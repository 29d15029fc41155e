import Foundation
import TestSupport
import Testing

/// The premise of `RelayPortRanges`, checked on the machine that runs the suite: if a CI host
/// widens its ephemeral range over the relay ranges, this fails and says so, instead of a relay
/// test failing now and then for a port the kernel gave away.
@Suite("Relay port ranges of the tests")
struct RelayPortRangeTests {
    @Test func rangesDoNotOverlapEachOther() {
        let all = RelayPortRanges.all
        for (i, a) in all.enumerated() {
            for b in all[(i + 1)...] {
                #expect(!a.range.overlaps(b.range), "\(a.name) \(a.range) overlaps \(b.name) \(b.range)")
            }
        }
    }

    @Test func rangesLieOutsideThisMachinesEphemeralPorts() throws {
        let text = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)
        let bounds = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).compactMap { Int($0) }
        try #require(bounds.count == 2, "ip_local_port_range: '\(text)'")
        let ephemeral = bounds[0]...bounds[1]
        for (name, range) in RelayPortRanges.all {
            #expect(
                !ephemeral.overlaps(Int(range.lowerBound)...Int(range.upperBound)),
                "\(name) \(range) lies in the ephemeral range \(ephemeral): move it below \(bounds[0])")
        }
    }
}
