import Testing

@testable import AV1Media

@Suite("Media for the av1sim endpoints")
struct MediaTests {
    @Test func vp8MovingPictureRoundTrip() throws {
        let encoder = try #require(VP8Encoder(width: 320, height: 240, fps: 15, bitrateKbps: 500))
        let decoder = try #require(VP8Decoder())
        var lumas: [Double] = []
        for frame in 0..<30 {
            let picture = Synthetic.picture(frame: frame, width: 320, height: 240)
            let encoded = try #require(encoder.encode(picture, pts: Int64(frame), forceKeyframe: frame == 0))
            if frame == 0 { #expect(encoded.keyframe) }
            let decoded = try #require(try decoder.decode(encoded.data))
            #expect(decoded.width == 320 && decoded.height == 240)
            lumas.append(decoded.meanLuma)
        }
        #expect(Set(lumas.map { Int($0) }).count > 5)  // the picture moves
    }

    @Test func vp8RejectsGarbage() throws {
        let decoder = try #require(VP8Decoder())
        #expect(throws: VP8Decoder.Failure.corrupt) { try decoder.decode([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) }
    }

    @Test func opusToneRoundTrip() throws {
        let codec = try #require(OpusCodec())
        var energy = 0.0
        for frame in 0..<50 {
            let packet = try #require(codec.encode(Synthetic.tone(frame: frame)))
            #expect(packet.count < 400)
            let pcm = try #require(codec.decode(packet))
            #expect(pcm.count == OpusCodec.frameSamples)
            if frame > 10 { energy += pcm.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(pcm.count) }
        }
        #expect(energy / 39 > 1_000_000)  // a tone of amplitude 8000 has mean square 32 million
    }

    @Test func rtpAndVP8Payload() throws {
        let frame = (0..<3000).map { UInt8(truncatingIfNeeded: $0) }
        let parts = VP8Payload.packetize(frame, maxPayload: 1100)
        #expect(parts.count == 3 && parts[0][0] == 0x10 && parts[1][0] == 0)
        var d = VP8Payload.Depacketizer()
        var got: [[UInt8]] = []
        for (i, part) in parts.enumerated() {
            let p = RTPPacket(
                payloadType: 96, marker: i == parts.count - 1, sequence: 65534 &+ UInt16(i), timestamp: 9000, ssrc: 7, payload: part)
            let parsed = try #require(RTPPacket(p.bytes))
            #expect(parsed == p)
            if let f = d.push(parsed) { got.append(f) }
        }
        #expect(got == [frame])
        // A lost middle packet loses the frame, not the next one.
        var lossy = VP8Payload.Depacketizer()
        #expect(lossy.push(RTPPacket(payloadType: 96, marker: false, sequence: 1, timestamp: 1, ssrc: 7, payload: parts[0])) == nil)
        #expect(lossy.push(RTPPacket(payloadType: 96, marker: true, sequence: 3, timestamp: 1, ssrc: 7, payload: parts[2])) == nil)
        #expect(lossy.push(RTPPacket(payloadType: 96, marker: true, sequence: 4, timestamp: 2, ssrc: 7, payload: [0x10, 1, 2])) == [1, 2])
    }

    @Test(arguments: [SRTPProfile.aeadAes128Gcm, .aes128CmHmacSha1_80])
    func dtlsHandshakeExportsMatchingSRTPKeys(profile: SRTPProfile) throws {
        let client = try #require(DTLSSession(role: .client, profiles: [profile]))
        let server = try #require(DTLSSession(role: .server))
        var toServer = client.advance()
        var rounds = 0
        while !(client.isComplete && server.isComplete) && rounds < 10 {
            var toClient: [[UInt8]] = []
            for d in toServer { toClient += server.receive(d) }
            toServer = []
            for d in toClient { toServer += client.receive(d) }
            rounds += 1
        }
        #expect(client.isComplete && server.isComplete && !client.failed && !server.failed)
        #expect(client.peerFingerprint == server.localFingerprint)
        #expect(server.peerFingerprint == client.localFingerprint)
        #expect(client.localFingerprint.count == 95)  // 32 bytes as "AB:" groups
        let c = try #require(client.srtpKeys())
        let s = try #require(server.srtpKeys())
        #expect(c.profile == profile && s.profile == c.profile)
        #expect(c.outbound == s.inbound && c.inbound == s.outbound && c.outbound != c.inbound)

        let send = try #require(SRTPSession(profile: c.profile, keySalt: c.outbound, outbound: true))
        let receive = try #require(SRTPSession(profile: s.profile, keySalt: s.inbound, outbound: false))
        let marker = Array("AV1-PLAINTEXT-MARKER".utf8)
        let rtp = RTPPacket(payloadType: 111, marker: false, sequence: 1, timestamp: 960, ssrc: 42, payload: marker + [1, 2, 3]).bytes
        let protected = try #require(send.protect(rtp))
        #expect(Array(protected.prefix(12)) == Array(rtp.prefix(12)))  // the RTP header stays in the clear
        #expect(protected.count > rtp.count)
        #expect(!protected.contains(marker))
        #expect(receive.unprotect(protected) == rtp)
        #expect(receive.unprotect(protected) == nil)  // replay
        var forged = try #require(
            send.protect(RTPPacket(payloadType: 111, marker: false, sequence: 2, timestamp: 1920, ssrc: 42, payload: [9]).bytes))
        forged[forged.count - 1] ^= 1
        #expect(receive.unprotect(forged) == nil)
    }
}

extension Array where Element == UInt8 {
    func contains(_ needle: [UInt8]) -> Bool {
        guard needle.count <= count else { return false }
        return (0...(count - needle.count)).contains { self[$0..<($0 + needle.count)].elementsEqual(needle) }
    }
}
