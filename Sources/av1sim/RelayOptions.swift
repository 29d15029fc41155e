import AV1Endpoint
import ArgumentParser
import Foundation
import STUN
import TURN

/// Where the relay is, how to reach it, and the credentials both ends use.
struct RelayOptions: ParsableArguments {
    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("The TURN relay (port 3478 if none is given).", valueName: "addr:port"),
        transform: { text in
            guard let address = TransportAddress(text, defaultPort: 3478) else {
                throw ValidationError("not an address like 127.0.0.1:3478")
            }
            return address
        })
    var relay: TransportAddress

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "pair: the app's relay, when not the robot's (a fleet: both should end on the device's home).", valueName: "addr:port"),
        transform: { text in
            guard let address = TransportAddress(text, defaultPort: 3478) else {
                throw ValidationError("not an address like 127.0.0.1:3478")
            }
            return address
        })
    var appRelay: TransportAddress?

    @Option(help: ArgumentHelp("300 Try Alternate redirects to follow, 0 for none.", valueName: "n"))
    var maxRedirects = 3

    @Flag(help: "Do not follow 300 Try Alternate: ask the same relay again, as clients that do not understand it do.")
    var ignoreRedirects = false

    @Option(help: "How the endpoints reach the relay.")
    var transport: RelayTransport = .udp

    @Option(help: ArgumentHelp("TLS: trust these CA certificates (PEM) for the relay's, instead of the system's store.", valueName: "file"))
    var tlsCA: String?

    @Option(
        help: ArgumentHelp("TLS: the name the relay's certificate must be for, and the SNI (default: its IP address).", valueName: "name"))
    var tlsName: String?

    @Flag(help: "TLS: do not check the relay's certificate at all (a development relay's self-signed one).")
    var tlsInsecure = false

    @Option(parsing: .unconditional, help: ArgumentHelp("A static credential, the same for both ends.", valueName: "name:password"))
    var user: String?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "A TURN REST secret: the ends use credentials for robot:<device> and app:<device>. --user wins when both are given.",
            valueName: "secret"))
    var secret: String?

    func validate() throws {
        guard (0...16).contains(maxRedirects) else { throw ValidationError("--max-redirects: from 0 to 16") }
        if tlsInsecure && (tlsCA != nil || tlsName != nil) {
            throw ValidationError("--tls-insecure checks nothing: it does not go with --tls-ca or --tls-name")
        }
        if let tlsCA, !FileManager.default.isReadableFile(atPath: tlsCA) { throw ValidationError("--tls-ca: cannot read \(tlsCA)") }
        if let user {
            guard user.contains(":") else { throw ValidationError("--user: expected NAME:PASSWORD") }
        } else if secret == nil {
            throw ValidationError("give --user NAME:PASSWORD or --secret SECRET")
        }
    }

    /// The username and password one end uses: the static credential, or a TURN REST one for
    /// `role:device` that outlasts the call by an hour.
    func credentials(_ role: EndpointRole, device: String, duration: Double) -> (username: String, password: String) {
        if let user, let colon = user.firstIndex(of: ":") {
            return (String(user[..<colon]), String(user[user.index(after: colon)...]))
        }
        let expiry = Int64(Date().timeIntervalSince1970) + Int64(duration) + 3600
        return Authenticator.restCredential(secret: secret ?? "", expiry: expiry, identity: "\(role.rawValue):\(device)")
    }
}
