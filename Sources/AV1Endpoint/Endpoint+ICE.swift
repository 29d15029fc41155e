import STUN

/// ICE-style connectivity checks through the relay (RFC 8445 §7.2): STUN Binding with the peer's
/// short-term credential and MESSAGE-INTEGRITY. Once connected they go on as consent freshness
/// checks (RFC 7675), and their round trips are the call's RTT.
extension Endpoint {
    func sendCheck() {
        guard let peer else { return }
        var b = STUNMessageBuilder(method: .binding, class: .request, transactionID: .random())
        b.append(.username, text: "\(peer.ufrag):\(ufrag)")
        b.append(.priority, uint32: 0x7E00_01FF)
        let tieBreaker = (0..<8).map { _ in UInt8.random(in: 0...255) }
        b.append(config.role == .app ? .iceControlling : .iceControlled, tieBreaker)
        b.appendMessageIntegrity(key: Array(peer.password.utf8))
        b.appendFingerprint()
        checks[b.transactionID] = Self.now()
        report.iceChecksSent += 1
        send([b.bytes])
    }

    /// Answers the peer's checks (RFC 8445 §7.3) and times the answers to ours.
    func handleSTUN(_ datagram: [UInt8]) {
        guard let m = try? STUNMessage(parsing: datagram), m.method == .binding else { return }
        switch m.messageClass {
        case .request:
            guard m.verifyIntegrity(key: Array(icePassword.utf8)) == true, m.text(.username)?.hasPrefix("\(ufrag):") == true else {
                report.iceChecksRejected += 1
                return
            }
            var b = STUNMessageBuilder(method: .binding, class: .successResponse, transactionID: m.transactionID)
            if let peer, let address = TransportAddress(peer.relayed) { b.append(.xorMappedAddress, xorAddress: address) }
            b.appendMessageIntegrity(key: Array(icePassword.utf8))
            b.appendFingerprint()
            send([b.bytes])
        case .successResponse:
            guard let sent = checks.removeValue(forKey: m.transactionID), let peer,
                m.verifyIntegrity(key: Array(peer.password.utf8)) == true
            else { return }
            rtts.append((Self.now() - sent) * 1000)
            if !iceConnected {
                iceConnected = true
                report.iceConnectedAfterMillis = rtts.last
            }
        default:
            break
        }
    }
}

/// An ICE username fragment or password. RFC 8445 §5.3 asks for at least 24 random bits in the
/// ufrag and 128 in the password: 8 and 24 of these 62 characters give 47 and 142.
func randomToken(_ n: Int) -> String {
    let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    return String((0..<n).map { _ in alphabet[Int.random(in: 0..<alphabet.count)] })
}
