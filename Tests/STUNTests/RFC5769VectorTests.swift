import TestSupport
import Testing

@testable import STUN

@Suite("RFC 5769 test vectors")
struct RFC5769VectorTests {
    @Test func sampleRequestParsesAndVerifies() throws {
        let m = try #require(try STUNMessage(parsing: RFC5769.request))
        #expect(m.method == .binding)
        #expect(m.messageClass == .request)
        #expect(m.text(.software) == "STUN test client")
        #expect(m.text(.username) == "evtj:h6vY")
        #expect(m.contains(.priority))
        #expect(m.contains(.iceControlled))
        #expect(m.contains(.fingerprint))
        #expect(m.verifyIntegrity(key: RFC5769.shortTermPassword) == true)
        #expect(m.verifyIntegrity(key: Array("wrong".utf8)) == false)
        #expect(m.unknownComprehensionRequired.isEmpty)
    }

    @Test func ipv4ResponseMappedAddress() throws {
        let m = try #require(try STUNMessage(parsing: RFC5769.ipv4Response))
        #expect(m.messageClass == .successResponse)
        #expect(try m.xorAddress(.xorMappedAddress) == TransportAddress("192.0.2.1:32853"))
        #expect(m.verifyIntegrity(key: RFC5769.shortTermPassword) == true)
    }

    @Test func ipv6ResponseMappedAddress() throws {
        let m = try #require(try STUNMessage(parsing: RFC5769.ipv6Response))
        #expect(try m.xorAddress(.xorMappedAddress) == TransportAddress("[2001:db8:1234:5678:11:2233:4455:6677]:32853"))
        #expect(m.verifyIntegrity(key: RFC5769.shortTermPassword) == true)
    }

    @Test func longTermRequestVerifiesWithMD5Key() throws {
        let m = try #require(try STUNMessage(parsing: RFC5769.longTermRequest))
        #expect(m.text(.username) == "マトリックス")
        #expect(m.text(.realm) == "example.org")
        #expect(m.text(.nonce) == "f//499k954d6OL34oL9FSTvy64sA")
        let key = PasswordAlgorithm.md5.key(username: "マトリックス", realm: "example.org", password: "TheMatrIX")
        #expect(m.verifyIntegrity(key: key) == true)
    }

    @Test(arguments: [RFC5769.request, RFC5769.ipv4Response, RFC5769.ipv6Response, RFC5769.longTermRequest])
    func everyPrefixNeedsMoreBytes(vector: [UInt8]) throws {
        for n in 0..<vector.count {
            #expect(try STUNMessage(parsing: Array(vector.prefix(n))) == nil, "prefix \(n)")
        }
        #expect(try STUNMessage(parsing: vector) != nil)
    }

    @Test(arguments: [RFC5769.request, RFC5769.ipv4Response, RFC5769.ipv6Response])
    func anyFlippedBitBreaksFingerprintOrIntegrity(vector: [UInt8]) throws {
        // Flip one bit in every byte between the header and FINGERPRINT: the fingerprint, the
        // framing or the integrity check catches it. (A flipped FINGERPRINT type turns it into an
        // unknown optional attribute after MESSAGE-INTEGRITY, which the RFC says to ignore.)
        for i in 20..<(vector.count - 8) {
            var v = vector
            v[i] ^= 0x01
            let parsed = try? STUNMessage(parsing: v)
            #expect(parsed == nil || parsed?.verifyIntegrity(key: RFC5769.shortTermPassword) == false, "byte \(i)")
        }
    }
}
