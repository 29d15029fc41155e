import ArgumentParser
import Foundation

/// Where the JSON report goes.
struct ReportOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: ArgumentHelp("Write the JSON report there instead of standard output.", valueName: "file"))
    var json: String?

    /// Writes the report as pretty JSON with sorted keys, to `--json` or standard output.
    func emit<T: Encodable>(_ report: T) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let data = try? encoder.encode(report) else { return }
        if let json {
            _ = FileManager.default.createFile(atPath: json, contents: data)
        } else {
            print(String(decoding: data, as: UTF8.self))
        }
    }
}
