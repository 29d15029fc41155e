import Foundation
import RelayServer
import SessionStore
import Sessions

/// `av1relay records export --device ID` and `av1relay records delete --device ID`, with the
/// relay's own options (`--config FILE`, `--session-store`, `--session-log`, …) to find where
/// records are kept. Export prints one JSON document; delete prints the counts it erased (and
/// the store's audit notes that it happened). Exit 0, 2 for bad arguments, 1 when the store or a
/// file cannot be read or written.
enum RecordsCommand {
    static let usage = """
        Usage: av1relay records export --device ID [--config FILE] [--KEY VALUE ...]
               av1relay records delete --device ID [--config FILE] [--KEY VALUE ...]
          export: every record held about the device (store, session log with its rotations, spool),
                  as one JSON document on standard output
          delete: erases them all; prints how many, by place; a second delete erases 0
        """

    static func run(_ arguments: [String], environment: [String: String]) -> Int32 {
        guard let verb = arguments.first, ["export", "delete"].contains(verb) else {
            if arguments.first == "--help" {
                print(usage)
                return 0
            }
            return fail("records: say export or delete\n\(usage)", 2)
        }
        var rest = Array(arguments.dropFirst())
        guard let i = rest.firstIndex(of: "--device"), i + 1 < rest.count, !rest[i + 1].isEmpty, !rest[i + 1].hasPrefix("--") else {
            return fail("records \(verb): --device ID is required\n\(usage)", 2)
        }
        let device = rest[i + 1]
        rest.removeSubrange(i...(i + 1))
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
            case "export": output = try encoder.encode(try keeper.export(device: device))
            default: output = try encoder.encode(try keeper.delete(device: device))
            }
            FileHandle.standardOutput.write(output + Data("\n".utf8))
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
