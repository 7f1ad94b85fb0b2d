/// The outcome of probing one feature.
public enum FeatureStatus: Sendable, Equatable, CustomStringConvertible {
    /// Loaded (and attached, where the probe attaches) without error.
    case supported
    /// The kernel refused: at which step, the errno, and libbpf's last message.
    case unsupported(step: String, errno: Int32, errnoName: String, detail: String)
    /// The probe could not run to a conclusion (e.g. a missing probe program, not root).
    case inconclusive(String)

    public var isSupported: Bool { self == .supported }

    public var description: String {
        switch self {
        case .supported: "available"
        case .unsupported(let step, _, let name, let detail):
            "unavailable (\(step): \(name)\(detail.isEmpty ? "" : ", \(detail)"))"
        case .inconclusive(let why): "unknown (\(why))"
        }
    }
}
