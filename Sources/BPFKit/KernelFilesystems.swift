#if canImport(Glibc)
    import Glibc
#endif

/// The pseudo-filesystems BPF work depends on, mounted on demand: some kernels (this
/// project's CI machine among them) boot without bpffs, tracefs or securityfs.
public enum KernelFilesystems {
    /// A pseudo-filesystem and where Vigil expects it.
    public struct Mount: Sendable, CustomStringConvertible {
        public let type: String
        public let path: String
        public var description: String { "\(type) at \(path)" }
    }

    public static let bpf = Mount(type: "bpf", path: "/sys/fs/bpf")
    public static let tracefs = Mount(type: "tracefs", path: "/sys/kernel/tracing")
    public static let securityfs = Mount(type: "securityfs", path: "/sys/kernel/security")

    /// Mounts `fs` unless a filesystem of that type is already mounted there.
    /// Throws with the errno when the mount fails (e.g. EPERM when not root).
    public static func ensureMounted(_ fs: Mount) throws(BPFError) {
        if mountPoint(ofType: fs.type, at: fs.path) { return }
        if mount(fs.type, fs.path, fs.type, 0, nil) != 0 {
            let code = errno
            if code == EBUSY && mountPoint(ofType: fs.type, at: fs.path) { return }
            throw BPFError(operation: "mount", subject: fs.description, errno: code)
        }
    }

    /// Mounts bpffs, tracefs and securityfs where missing; returns the failures (not fatal:
    /// callers decide what they need).
    @discardableResult
    public static func ensureAll() -> [BPFError] {
        var failures: [BPFError] = []
        for fs in [bpf, tracefs, securityfs] {
            do { try ensureMounted(fs) } catch { failures.append(error) }
        }
        return failures
    }

    /// The mount point of the cgroup v2 hierarchy, read from /proc/mounts (it is
    /// /sys/fs/cgroup on unified hosts, /sys/fs/cgroup/unified in hybrid mode).
    public static func cgroup2Root() -> String? {
        mounts().first { $0.type == "cgroup2" }?.path
    }

    static func mountPoint(ofType type: String, at path: String) -> Bool {
        mounts().contains { $0.type == type && $0.path == path }
    }

    /// Entries of /proc/mounts as (type, mount point).
    public static func mounts() -> [(type: String, path: String)] {
        guard let text = readTextFile("/proc/mounts") else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            return f.count >= 3 ? (String(f[2]), String(f[1])) : nil
        }
    }
}

/// Reads a small text file (procfs, sysfs, securityfs) entirely; nil when unreadable.
public func readTextFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        out.append(contentsOf: buf[0..<n])
    }
    return String(decoding: out, as: UTF8.self)
}
