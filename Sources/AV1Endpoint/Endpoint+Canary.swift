import AV1Media

/// A marker the endpoints put inside media payloads once a second. Receivers count it after
/// decryption; it must never be visible in what the relay forwards.
public let plaintextCanary = Array("AV1SIM-PLAINTEXT-CANARY-7f3a9c".utf8)

/// The plaintext canary: sent inside SRTP, so it proves both that the media path decrypts and
/// that nothing the relay forwards carries plaintext.
extension Endpoint {
    func sendCanary() {
        guard let srtp = srtpOut else { return }
        let bytes = rtp(110, marker: false, sequence: &canarySequence, timestamp: 0, ssrc: canarySSRC, payload: plaintextCanary)
        guard let protected = srtp.protect(bytes) else { return }
        report.canariesSent += 1
        send([protected])
    }
}
