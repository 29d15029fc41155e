import AV1Media

/// DTLS-SRTP (RFC 5764): the handshake over the relayed path, the peer's certificate checked
/// against the fingerprint signalling gave, then SRTP keys from the handshake's exporter.
extension Endpoint {
    /// A DTLS record from the peer: answers go straight back; SRTP starts once the handshake is done.
    func handleDTLS(_ datagram: [UInt8]) {
        let out = dtls.receive(datagram)
        send(out)
        if dtls.isComplete && srtpOut == nil { establishSRTP() }
    }

    func establishSRTP() {
        guard let peer else { return }
        report.dtlsCompleted = true
        report.peerFingerprintVerified = dtls.peerFingerprint == peer.fingerprint
        guard report.peerFingerprintVerified, let keys = dtls.srtpKeys() else {
            report.error = "DTLS peer fingerprint does not match what signalling said"
            return
        }
        profile = keys.profile
        report.srtpProfile = keys.profile.name
        srtpOut = SRTPSession(profile: keys.profile, keySalt: keys.outbound, outbound: true)
        srtpIn = SRTPSession(profile: keys.profile, keySalt: keys.inbound, outbound: false)
        if srtpOut == nil || srtpIn == nil { report.error = "cannot create the SRTP sessions" }
    }
}
