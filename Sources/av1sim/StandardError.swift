import Foundation

/// Standard error as a `print(_:to:)` target, for messages that must not mix with the report on
/// standard output.
struct StandardError: TextOutputStream {
    mutating func write(_ string: String) { FileHandle.standardError.write(Data(string.utf8)) }
}
