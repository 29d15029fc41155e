/// The relay's version, reported by `--version` and in SOFTWARE.
public enum RelayVersion {
    public static let current = "0.1.0"
}
