import Testing

@testable import STUN

@Suite("STUN codec")
struct STUNCodecTests {
    func parse(_ bytes: [UInt8]) -> Result<STUNMessage?, STUNParseError> {
        do throws(STUNParseError) { return .success(try STUNMessage(parsing: bytes)) } catch { return .failure(error) }
    }

    func error(_ bytes: [UInt8]) -> STUNParseError? {
        if case .failure(let e) = parse(bytes) { return e }
        return nil
    }

    @Test(arguments: [
        (STUNMethod.binding, STUNClass.request, UInt16(0x0001)),
        (.binding, .successResponse, 0x0101),
        (.binding, .errorResponse, 0x0111),
        (.allocate, .request, 0x0003),
        (.allocate, .successResponse, 0x0103),
        (.allocate, .errorResponse, 0x0113),
        (.refresh, .request, 0x0004),
        (.send, .indication, 0x0016),
        (.data, .indication, 0x0017),
        (.createPermission, .request, 0x0008),
        (.channelBind, .request, 0x0009),
        (.channelBind, .errorResponse, 0x0119),
    ])
    func messageTypeEncoding(method: STUNMethod, cls: STUNClass, raw: UInt16) {
        #expect(STUNMessageType(method: method, class: cls).rawValue == raw)
        let decoded = STUNMessageType(rawValue: raw)
        #expect(decoded.method == method)
        #expect(decoded.messageClass == cls)
    }

    @Test func builderRoundTripsEveryAttributeKind() throws {
        let tid = TransactionID.random()
        var b = STUNMessageBuilder(method: .allocate, class: .successResponse, transactionID: tid)
        b.append(.xorRelayedAddress, xorAddress: TransportAddress("203.0.113.7:50000")!)
        b.append(.xorRelayedAddress, xorAddress: TransportAddress("[2001:db8::7]:50002")!)
        b.append(.xorMappedAddress, xorAddress: TransportAddress("[::1]:1234")!)
        b.append(.alternateServer, address: TransportAddress("192.0.2.9:3478")!)
        b.append(.lifetime, uint32: 600)
        b.append(.software, text: "odd length")
        b.appendPasswordAlgorithms([.sha256, .md5])
        b.appendPasswordAlgorithm(.sha256)
        b.appendAddressErrorCode(family: .ipv6, code: 440, reason: "Address Family not Supported")
        b.appendUnknownAttributes([STUNAttributeType(0x7777)])
        b.append(.evenPort, [0x80])
        b.append(.reservationToken, [1, 2, 3, 4, 5, 6, 7, 8])
        b.append(.requestedAddressFamily, [2, 0, 0, 0])
        b.append(.channelNumber, [0x40, 0x01, 0, 0])
        let key = Array("k".utf8)
        b.appendMessageIntegrity(key: key)
        b.appendMessageIntegritySHA256(key: key)
        b.appendFingerprint()
        let m = try #require(try STUNMessage(parsing: b.bytes))
        #expect(m.transactionID == tid)
        #expect(
            try m.xorAddresses(.xorRelayedAddress) == [TransportAddress("203.0.113.7:50000")!, TransportAddress("[2001:db8::7]:50002")!])
        #expect(try m.xorAddress(.xorMappedAddress) == TransportAddress("[::1]:1234"))
        #expect(try m.plainAddress(.alternateServer) == TransportAddress("192.0.2.9:3478"))
        #expect(try m.uint32(.lifetime) == 600)
        #expect(m.text(.software) == "odd length")
        #expect(try m.passwordAlgorithms() == [2, 1])
        #expect(try m.passwordAlgorithm() == 2)
        #expect(try m.unknownAttributes() == [STUNAttributeType(0x7777)])
        #expect(try m.evenPort() == (true, true))
        #expect(try m.reservationToken() == 0x0102_0304_0506_0708)
        #expect(try m.familyByte(.requestedAddressFamily) == 2)
        #expect(try m.channelNumber() == 0x4001)
        #expect(m.verifyIntegrity(key: key) == true)  // checks the SHA-256 one
        #expect(m.usesIntegritySHA256)
    }

    @Test func errorCodeRoundTrip() throws {
        var b = STUNMessageBuilder(method: .allocate, class: .errorResponse, transactionID: .random())
        b.appendErrorCode(438, reason: "Stale Nonce")
        let m = try #require(try STUNMessage(parsing: b.bytes))
        let e = try #require(try m.errorCode())
        #expect(e.code == 438)
        #expect(e.reason == "Stale Nonce")
    }

    @Test func malformedInputIsTypedNotTruncated() {
        var valid = STUNMessageBuilder(method: .binding, class: .request, transactionID: .random())
        valid.append(.software, text: "abcd")
        let bytes = valid.bytes

        var notSTUN = bytes
        notSTUN[0] = 0x80
        #expect(error(notSTUN) == .notSTUN)
        #expect(error([0xC0]) == .notSTUN)

        var cookie = bytes
        cookie[4] = 0
        #expect(error(cookie) == .badMagicCookie)

        var unaligned = bytes
        unaligned[3] = 7
        #expect(error(unaligned) == .unalignedLength)

        var overrun = bytes
        overrun[23] = 0xFF  // SOFTWARE claims 255 bytes
        #expect(error(overrun) == .attributeOverrun)

        #expect(error(bytes + [0, 0, 0, 0]) == .lengthMismatch)

        var fp = STUNMessageBuilder(method: .binding, class: .request, transactionID: .random())
        fp.appendFingerprint()
        fp.append(.software, text: "late")
        #expect(error(fp.bytes) == .badFingerprint)
    }

    @Test func attributesAfterIntegrityAreIgnored() throws {
        var b = STUNMessageBuilder(method: .binding, class: .request, transactionID: .random())
        b.appendMessageIntegrity(key: [1])
        b.append(STUNAttributeType(0x0042), [1, 2, 3, 4])  // unknown, comprehension-required, after MI
        let m = try #require(try STUNMessage(parsing: b.bytes))
        #expect(!m.contains(STUNAttributeType(0x0042)))
        #expect(m.unknownComprehensionRequired.isEmpty)
    }

    @Test func badXORAddressIsAnAttributeError() throws {
        var b = STUNMessageBuilder(method: .createPermission, class: .request, transactionID: .random())
        b.append(.xorPeerAddress, [0, 3, 0, 0, 1, 2, 3, 4])  // family 3
        let m = try #require(try STUNMessage(parsing: b.bytes))
        #expect(throws: STUNParseError.badAttribute(.xorPeerAddress)) { try m.xorAddresses(.xorPeerAddress) }
    }
}

@Suite("Data path encodings")
struct STUNDataPathTests {
    @Test(arguments: ["192.0.2.1:9", "[2001:db8::1]:65535"])
    func dataIndicationRoundTrip(peerText: String) throws {
        let peer = try #require(TransportAddress(peerText))
        let payload: [UInt8] = Array(0..<203)
        var out = [UInt8](repeating: 0xAA, count: 512)
        let tid = TransactionID.random()
        let n = out.withUnsafeMutableBytes { o in
            payload.withUnsafeBytes { STUNDataPath.writeDataIndication(into: o, transactionID: tid, peer: peer, payload: $0) }
        }
        #expect(n == STUNDataPath.dataIndicationSize(peer: peer.family, payload: payload.count))
        let m = try #require(try STUNMessage(parsing: Array(out.prefix(n))))
        #expect(m.method == .data && m.messageClass == .indication)
        #expect(try m.xorAddress(.xorPeerAddress) == peer)
        #expect(m.value(.data).map(Array.init) == payload)
    }

    @Test func sendIndicationReadInPlace() throws {
        let peer = try #require(TransportAddress("198.51.100.20:4000"))
        var b = STUNMessageBuilder(method: .send, class: .indication, transactionID: .random())
        b.append(.xorPeerAddress, xorAddress: peer)
        b.append(.dontFragment, [])
        b.append(.data, [9, 8, 7])
        let bytes = b.bytes
        let send = try bytes.withUnsafeBytes { raw in
            let header = try #require(try STUNHeader(parsing: raw))
            return STUNDataPath.sendIndication(raw, header: header)
        }
        let s = try #require(send)
        #expect(s.peer == peer)
        #expect(Array(bytes[s.data]) == [9, 8, 7])

        var unknown = STUNMessageBuilder(method: .send, class: .indication, transactionID: .random())
        unknown.append(.xorPeerAddress, xorAddress: peer)
        unknown.append(.data, [1])
        unknown.append(STUNAttributeType(0x0055), [1, 2, 3, 4])
        let dropped = try unknown.bytes.withUnsafeBytes { raw in
            STUNDataPath.sendIndication(raw, header: try #require(try STUNHeader(parsing: raw)))
        }
        #expect(dropped == nil)
    }

    @Test(arguments: [false, true])
    func channelData(padded: Bool) {
        let payload: [UInt8] = [1, 2, 3, 4, 5]
        var out = [UInt8](repeating: 0xAA, count: 16)
        let n = out.withUnsafeMutableBytes { o in
            payload.withUnsafeBytes { STUNDataPath.writeChannelData(into: o, channel: 0x4001, payload: $0, padded: padded) }
        }
        #expect(n == (padded ? 12 : 9))
        #expect(Array(out.prefix(n)) == [0x40, 0x01, 0, 5, 1, 2, 3, 4, 5] + (padded ? [0, 0, 0] : []))
        let header = out.withUnsafeBytes { STUNDataPath.channelDataHeader($0) }
        #expect(header?.channel == 0x4001 && header?.length == 5)
        #expect(STUNDataPath.isChannelData(firstByte: 0x40) && STUNDataPath.isChannelData(firstByte: 0x7F))
        #expect(!STUNDataPath.isChannelData(firstByte: 0x00) && !STUNDataPath.isChannelData(firstByte: 0x80))
    }
}

@Suite("Addresses")
struct AddressTests {
    @Test(arguments: [
        ("127.0.0.1", "127.0.0.1"), ("::1", "::1"), ("::", "::"), ("2001:db8::1", "2001:db8::1"),
        ("::ffff:10.0.0.1", "::ffff:a00:1"), ("fe80:0:0:0:0:0:0:1", "fe80::1"), ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
    ])
    func parseAndFormat(text: String, canonical: String) throws {
        let ip = try #require(IPAddress(text))
        #expect(ip.description == canonical)
        #expect(IPAddress(canonical) == ip)
    }

    @Test(arguments: ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1::2::3", "12345::", ":::", "1.2.3.04a", "g::1", "1:2:3:4:5:6:7:8:9"])
    func rejectsBadText(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func transportAddressText() {
        #expect(TransportAddress("1.2.3.4:5")?.port == 5)
        #expect(TransportAddress("[::1]:3478")?.ip == .v6(hi: 0, lo: 1))
        #expect(TransportAddress("1.2.3.4", defaultPort: 9)?.port == 9)
        #expect(TransportAddress("1.2.3.4") == nil)
        #expect(TransportAddress("[::1]:99999") == nil)
        #expect(TransportAddress("[2001:db8::1]:80")?.description == "[2001:db8::1]:80")
    }
}
