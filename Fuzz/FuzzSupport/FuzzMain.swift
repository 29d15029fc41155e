import CFuzzDriver
import Foundation

/// What a fuzz target's binary does when it is not linked with libFuzzer (`make fuzz` builds it
/// with `-sanitize=fuzzer -DFUZZING`, and then libFuzzer's `main` runs instead):
///
///     FuzzX --seeds DIR      writes the target's seed inputs into DIR, one file each
///     FuzzX FILE|DIR ...     runs every input once through the target (a crash replays here)
public enum FuzzMain {
    /// The entry point of every target: libFuzzer's driver in a fuzz build, seeds and replays
    /// otherwise.
    public static func main(
        _ test: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt, seeds: () -> [[UInt8]], _ body: (UnsafeRawBufferPointer) -> Void
    ) -> Never {
        #if FUZZING
            exit(av1_fuzz_drive(CommandLine.argc, CommandLine.unsafeArgv, test))
        #else
            exit(run(CommandLine.arguments, seeds: seeds, body))
        #endif
    }

    public static func run(_ arguments: [String], seeds: () -> [[UInt8]], _ body: (UnsafeRawBufferPointer) -> Void) -> Int32 {
        let args = Array(arguments.dropFirst())
        if args.count == 2, args[0] == "--seeds" {
            let dir = URL(fileURLWithPath: args[1])
            try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            for (i, seed) in seeds().enumerated() {
                try? Data(seed).write(to: dir.appendingPathComponent(String(format: "seed-%03d", i)))
            }
            return 0
        }
        guard !args.isEmpty else {
            FileHandle.standardError.write(Data("usage: \(arguments.first ?? "fuzz") --seeds DIR | FILE|DIR ...\n".utf8))
            return 2
        }
        var inputs = 0
        for path in args {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            let files =
                isDirectory.boolValue
                ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().map { "\(path)/\($0)" } : [path]
            for file in files {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                Array(data).withUnsafeBytes(body)
                inputs += 1
            }
        }
        print("\(inputs) inputs, no crash")
        return 0
    }
}

/// Reads a fuzz input from the front, a byte or a run of bytes at a time; past the end, zeros.
public struct FuzzReader {
    let bytes: [UInt8]
    var at = 0

    public init(_ data: UnsafeRawBufferPointer) { bytes = Array(data) }

    public var isEmpty: Bool { at >= bytes.count }

    public mutating func byte() -> UInt8 {
        guard at < bytes.count else { return 0 }
        defer { at += 1 }
        return bytes[at]
    }

    /// A run of up to `max` bytes, its length read first (shorter at the end of the input).
    public mutating func run(max: Int = 255) -> [UInt8] {
        let n = min(Int(byte()), max, bytes.count - at)
        defer { at += n }
        return Array(bytes[at..<(at + n)])
    }
}
