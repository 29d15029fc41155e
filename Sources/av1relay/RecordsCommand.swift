import Foundation
import RelayServer
import SessionStore
import Sessions

/// `av1relay records export|delete|usage|audit …`, with the relay's own options (`--config
/// FILE`, `--session-store`, `--session-log`, …) to find where records are kept. Export prints
/// one JSON document; delete prints the counts it erased; usage prints a usage report (JSON or
/// CSV); audit prints the audit trail's entries or, with `--verify`, its chain checked. Each
/// leaves an audit entry (actor `cli`). Exit 0, 2 for bad arguments, 1 when the
/// store or a file cannot be read or written, 3 when `audit --verify` finds the chain broken.
enum RecordsCommand {
    static let usage = """
        Usage: av1relay records export --device ID [--config FILE] [--KEY VALUE ...]
               av1relay records delete --device ID [--config FILE] [--KEY VALUE ...]
               av1relay records usage --from TIME --to TIME [--group-by device|day|month] [--device ID] [--csv] [...]
               av1relay records audit [--from TIME] [--to TIME] [--device ID] [--verify] [...]
          export: every record held about the device (store, session log with its rotations, spool),
                  as one JSON document on standard output
          delete: erases them all; prints how many, by place; a second delete erases 0
          usage:  sessions, minutes, bytes each way and minutes by quality grade in the period
                  (RFC 3339 times), from the session store; --csv for CSV
          audit:  the audit trail's entries (JSON Lines); --verify checks its hash chain (exit 3 if broken)
        """

    static let verbs = ["export", "delete", "usage", "audit"]

    /// Removes `--name VALUE` from `arguments` and returns VALUE (nil if absent; "" if it has no value).
    static func take(_ name: String, _ arguments: inout [String]) -> String? {
        guard let i = arguments.firstIndex(of: name) else { return nil }
        guard i + 1 < arguments.count, !arguments[i + 1].isEmpty, !arguments[i + 1].hasPrefix("--") else {
            arguments.remove(at: i)
            return ""
        }
        defer { arguments.removeSubrange(i...(i + 1)) }
        return arguments[i + 1]
    }

    /// Removes the flag `--name` and says whether it was there.
    static func flag(_ name: String, _ arguments: inout [String]) -> Bool {
        guard let i = arguments.firstIndex(of: name) else { return false }
        arguments.remove(at: i)
        return true
    }

    static func run(_ arguments: [String], environment: [String: String]) -> Int32 {
        guard let verb = arguments.first, verbs.contains(verb) else {
            if arguments.first == "--help" {
                print(usage)
                return 0
            }
            return fail("records: say export, delete, usage or audit\n\(usage)", 2)
        }
        var rest = Array(arguments.dropFirst())
        let device = take("--device", &rest)
        if device == "" || (device == nil && (verb == "export" || verb == "delete")) {
            return fail("records \(verb): --device ID is required\n\(usage)", 2)
        }
        if let device, !AdminToken.isDeviceID(device) {
            return fail("records \(verb): '\(device)' is not a device id (1 to 128 letters, digits, '.', '_', '~' or '-')", 2)
        }
        let from = take("--from", &rest), to = take("--to", &rest), groupBy = take("--group-by", &rest)
        let csv = flag("--csv", &rest), verify = flag("--verify", &rest)
        var period: (from: Date, to: Date)?
        var grouping: UsageTally.Grouping?
        var window: (from: String?, to: String?) = (nil, nil)
        switch verb {
        case "usage":
            guard let f = from.flatMap(UsageTally.date), let t = to.flatMap(UsageTally.date), f < t else {
                return fail("records usage: --from and --to are RFC 3339 times, --from before --to\n\(usage)", 2)
            }
            period = (f, t)
            if let groupBy {
                guard let g = UsageTally.Grouping(rawValue: groupBy) else {
                    return fail("records usage: --group-by is device, day or month", 2)
                }
                grouping = g
            }
        case "audit":
            for (name, value) in [("--from", from), ("--to", to)] where value != nil && value.flatMap(UsageTally.date) == nil {
                return fail("records audit: \(name) is an RFC 3339 time", 2)
            }
            window = (from.flatMap(UsageTally.date).map(SessionRecord.timestamp), to.flatMap(UsageTally.date).map(SessionRecord.timestamp))
        default: break
        }
        let configuration: RelayConfiguration
        do {
            switch try RelayConfiguration.parse(arguments: rest, environment: environment) {
            case .run(let c), .check(let c): configuration = c
            case .help, .version:
                print(usage)
                return 0
            }
        } catch {
            return fail("\(error)", 2)
        }
        do {
            let keeper = try RelayServer.recordKeeper(configuration)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            let output: Data
            switch verb {
            case "export":
                let export = try keeper.audited(actor: "cli", action: "records export", device: device, records: \.holds.total) {
                    try keeper.export(device: device!)
                }
                output = try encoder.encode(export)
            case "delete":
                let counts = try keeper.audited(actor: "cli", action: "records delete", device: device, records: \.total) {
                    try keeper.delete(device: device!)
                }
                output = try encoder.encode(counts)
            case "usage":
                guard let store = keeper.store else { return fail("records usage: there is no session store (session-store none)", 1) }
                let report = try keeper.audited(actor: "cli", action: "records usage", device: device, records: \.records) {
                    try UsageTally.report(store, from: period!.from, to: period!.to, grouping: grouping, device: device)
                }
                output = csv ? Data(report.csv.utf8) : try encoder.encode(report)
            default:
                if verify {
                    let verification = try keeper.audited(actor: "cli", action: "records audit --verify", device: nil, records: \.entries) {
                        AuditChain.verify(try keeper.trail.auditEntries(.all))
                    }
                    FileHandle.standardOutput.write(try encoder.encode(verification) + Data("\n".utf8))
                    return verification.intact ? 0 : 3
                }
                let entries = try keeper.audited(actor: "cli", action: "records audit", device: device, records: \.count) {
                    try keeper.trail.auditEntries(AuditQuery(from: window.from, to: window.to, device: device))
                }
                let lines = JSONEncoder()
                lines.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                output = Data(try entries.map { String(decoding: try lines.encode($0), as: UTF8.self) }.joined(separator: "\n").utf8)
            }
            FileHandle.standardOutput.write(output + (output.last == 0x0A || output.isEmpty ? Data() : Data("\n".utf8)))
            return 0
        } catch {
            return fail("records \(verb): \(error)", 1)
        }
    }

    static func fail(_ message: String, _ code: Int32) -> Int32 {
        FileHandle.standardError.write(Data("av1relay: \(message)\n".utf8))
        return code
    }
}
