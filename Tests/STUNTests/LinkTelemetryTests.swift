import Testing

@testable import STUN

@Suite("Robot link telemetry attribute (README)")
struct LinkTelemetryTests {
    @Test func roundTrips() {
        let t = LinkTelemetry(wifiRSSI: -61, wifiBand: 2, radioType: 1, rsrp: -95, rsrq: -10, sinr: 12, operatorCode: "20801")
        #expect(LinkTelemetry(encoded: t.encoded) == t)
        #expect(LinkTelemetry(encoded: t.encoded.prefix(19)) == nil)
    }

    /// Found by FuzzAnalyzer (Fuzz/Corpus/FuzzAnalyzer/telemetry-operator-not-utf8): an operator
    /// code that is not digits came back as replacement characters, which encode to other bytes,
    /// and would have reached session records. Only five or six ASCII digits are an operator code.
    @Test(arguments: [[0x83, 0x83, 0x83, 0x83, 0x83, 0x83], Array("2O8O1".utf8), Array("2080".utf8), Array("20\"<>1".utf8)])
    func anOperatorCodeIsDigitsOrNothing(code: [UInt8]) {
        var bytes = LinkTelemetry(radioType: 1, rsrp: -90, operatorCode: "20801").encoded
        for i in 12..<18 { bytes[i] = i - 12 < code.count ? code[i - 12] : 0 }
        let t = LinkTelemetry(encoded: bytes)
        #expect(t != nil && t?.operatorCode == nil && t?.rsrp == -90)
        #expect(t.map { LinkTelemetry(encoded: $0.encoded) == $0 } == true)
    }
}
