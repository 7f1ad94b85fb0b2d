/// Linux capability sets of a process, as bit masks (bit n = capability n).
public struct CapabilitySets: Sendable, Equatable {
    public var permitted: UInt64
    public var effective: UInt64
    public var inheritable: UInt64
    public init(permitted: UInt64 = 0, effective: UInt64 = 0, inheritable: UInt64 = 0) {
        self.permitted = permitted
        self.effective = effective
        self.inheritable = inheritable
    }
}

/// Namespace inode numbers, in Tetragon's order (uts, ipc, mnt, pid, pid_for_children, net,
/// time, time_for_children, cgroup, user); 0 when unknown.
public struct Namespaces: Sendable, Equatable {
    public static let names = ["uts", "ipc", "mnt", "pid", "pid_for_children", "net", "time", "time_for_children", "cgroup", "user"]
    public var inodes: [UInt32]
    public init(inodes: [UInt32] = Array(repeating: 0, count: 10)) { self.inodes = inodes }

    /// The network namespace's inode (0 when unknown).
    public var net: UInt32 { inode(Self.netIndex) }
    /// The user namespace's inode (0 when unknown).
    public var user: UInt32 { inode(Self.userIndex) }

    static let netIndex = names.firstIndex(of: "net")!
    static let userIndex = names.firstIndex(of: "user")!
    private func inode(_ i: Int) -> UInt32 { i < inodes.count ? inodes[i] : 0 }
}

/// Where a process entry came from and what is special about it (Tetragon's flag words).
public struct ProcessFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let execve = ProcessFlags(rawValue: 1 << 0)
    public static let procFS = ProcessFlags(rawValue: 1 << 1)
    public static let clone = ProcessFlags(rawValue: 1 << 2)
    public static let truncArgs = ProcessFlags(rawValue: 1 << 3)
    public static let truncPath = ProcessFlags(rawValue: 1 << 4)
    public static let rootCWD = ProcessFlags(rawValue: 1 << 5)
    public static let noCWD = ProcessFlags(rawValue: 1 << 6)

    /// Space-separated words as Tetragon prints `process.flags`.
    public var words: String {
        var w: [String] = []
        if contains(.execve) { w.append("execve") }
        if contains(.procFS) { w.append("procFS") }
        if contains(.truncArgs) { w.append("truncArgs") }
        if contains(.truncPath) { w.append("errorFilename") }
        if contains(.noCWD) { w.append("nocwd") }
        if contains(.rootCWD) { w.append("rootcwd") }
        if contains(.clone) { w.append("clone") }
        return w.joined(separator: " ")
    }
}

/// Everything known about one process image.
public struct ProcessEntry: Sendable, Equatable {
    public var id: ExecIdentity
    public var parent: ExecIdentity?
    public var pid: UInt32
    public var tid: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var euid: UInt32
    public var egid: UInt32
    public var auid: UInt32
    public var binary: String
    /// Arguments after argv[0], as Tetragon joins them (space-separated, quoted when needed).
    public var arguments: String
    public var cwd: String
    public var flags: ProcessFlags
    /// Wall-clock start time, in ns since the Unix epoch.
    public var startTimeNs: UInt64
    public var caps: CapabilitySets
    public var namespaces: Namespaces
    public var cgroupID: UInt64
    /// cgroup v2 path below the hierarchy root, e.g. `/system.slice/docker-<id>.scope`.
    public var cgroupPath: String
    /// Container id taken from the cgroup path, when it holds one.
    public var containerID: String?

    public init(id: ExecIdentity, parent: ExecIdentity?, binary: String) {
        self.id = id
        self.parent = parent
        pid = id.pid
        tid = id.pid
        uid = 0
        gid = 0
        euid = 0
        egid = 0
        auid = UInt32.max
        self.binary = binary
        arguments = ""
        cwd = ""
        flags = []
        startTimeNs = 0
        caps = CapabilitySets()
        namespaces = Namespaces()
        cgroupID = 0
        cgroupPath = ""
        containerID = nil
    }

    /// Tetragon's `arguments` from argv as the kernel keeps it (the exec record, /proc/PID/cmdline):
    /// NUL-terminated strings, argv[0] first. argv[1...] joined by spaces, an argument that is
    /// empty or holds a space quoted; a last argument cut off (no NUL) is kept as it is.
    /// Works on the bytes: through split, [String] and joined it was a twentieth of the agent's
    /// work per exec.
    public static func arguments(fromArgv argv: UnsafeRawBufferPointer) -> String {
        var n = argv.count
        if n > 0 && argv[n - 1] == 0 { n -= 1 }  // the last argument's NUL: not an empty argument after it
        var i = 0
        while i < n && argv[i] != 0 { i += 1 }  // argv[0]
        guard i < n else { return "" }
        i += 1
        var out: [UInt8] = []
        out.reserveCapacity(n - i + 8)
        var first = true
        while i <= n {
            var end = i
            var quote = false
            while end < n && argv[end] != 0 {
                if argv[end] == 0x20 { quote = true }
                end += 1
            }
            if end == i { quote = true }
            if !first { out.append(0x20) }
            first = false
            if quote { out.append(0x27) }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: argv[i..<end]))
            if quote { out.append(0x27) }
            i = end + 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A container id from a cgroup path: the innermost component that holds one
    /// (`.../docker-<64 hex>.scope`, `.../cri-containerd-<64 hex>.scope`, `/docker/<64 hex>`).
    /// On the UTF-8 bytes: Character-level String work here cost more than the rest of an
    /// exec record's decoding.
    public static func containerID(fromCgroupPath path: String) -> String? {
        var path = path
        return path.withUTF8 { p in
            guard p.count >= 64 else { return nil }  // no component can hold one
            var end = p.count
            while end > 0 {
                var start = end
                while start > 0 && p[start - 1] != 0x2f { start -= 1 }  // "/"
                if let id = containerID(inName: UnsafeBufferPointer(rebasing: p[start..<end])) { return id }
                end = start - 1
            }
            return nil
        }
    }

    /// A container id from one cgroup name (docker-<64 hex>.scope, cri-containerd-..., <64 hex>).
    public static func containerID(fromCgroupName name: String) -> String? {
        var name = name
        return name.withUTF8 { containerID(inName: $0) }
    }

    private static let scopeSuffix = Array(".scope".utf8)

    private static func containerID(inName n: UnsafeBufferPointer<UInt8>) -> String? {
        var end = n.count
        if end >= scopeSuffix.count && n[(end - scopeSuffix.count)...].elementsEqual(scopeSuffix) { end -= scopeSuffix.count }
        var start = end
        while start > 0 && n[start - 1] != 0x2d { start -= 1 }  // after the last "-"
        guard end - start == 64 else { return nil }
        for b in n[start..<end] where !(b >= 0x30 && b <= 0x39 || b >= 0x61 && b <= 0x66 || b >= 0x41 && b <= 0x46) { return nil }
        return String(decoding: UnsafeBufferPointer(rebasing: n[start..<end]), as: UTF8.self)
    }
}
