#if canImport(Glibc)
    import Glibc
#endif

/// A kernel release as major.minor.patch, parsed from uname(2).
public struct KernelVersion: Comparable, Sendable, CustomStringConvertible, Codable {
    public let major: Int
    public let minor: Int
    public let patch: Int
    /// The full release string, e.g. `6.12.117+deb12-amd64`.
    public let release: String

    public init(major: Int, minor: Int, patch: Int = 0, release: String? = nil) {
        self.major = major
        self.minor = minor
        self.patch = patch
        self.release = release ?? "\(major).\(minor).\(patch)"
    }

    /// Parses `6.1.0-56-amd64` style releases; nil when the first two numbers are missing.
    public init?(release: String) {
        let numbers = release.split(whereSeparator: { !$0.isNumber }).prefix(3).compactMap { Int($0) }
        guard numbers.count >= 2 else { return nil }
        self.init(major: numbers[0], minor: numbers[1], patch: numbers.count > 2 ? numbers[2] : 0, release: release)
    }

    /// The running kernel's version.
    public static let running: KernelVersion = {
        var u = utsname()
        uname(&u)
        let release = withUnsafeBytes(of: &u.release) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        return KernelVersion(release: release) ?? KernelVersion(major: 0, minor: 0, release: release)
    }()

    public var description: String { release }

    public static func < (a: KernelVersion, b: KernelVersion) -> Bool {
        (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
    }

    public static func == (a: KernelVersion, b: KernelVersion) -> Bool {
        (a.major, a.minor, a.patch) == (b.major, b.minor, b.patch)
    }
}
