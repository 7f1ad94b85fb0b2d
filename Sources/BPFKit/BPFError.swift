#if canImport(Glibc)
    import Glibc
#endif

/// A failed libbpf or bpf(2) operation: what was attempted, on what, the errno, and
/// everything libbpf printed while trying (for a failed load, the verifier log).
public struct BPFError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The libbpf function or syscall that failed, e.g. `bpf_object__load`.
    public let operation: String
    /// What it was applied to, e.g. `object probe, program probe_lsm`.
    public let subject: String
    /// The positive errno (kernel values, or libbpf's own 4000+ range such as LIBBPF_ERRNO__VERIFY).
    public let errno: Int32
    /// libbpf's messages captured during the call (verifier log tail on load failures).
    public let libbpfLog: String

    public init(operation: String, subject: String, errno: Int32, libbpfLog: String = "") {
        self.operation = operation
        self.subject = subject
        self.errno = errno
        self.libbpfLog = libbpfLog
    }

    /// The errno's symbolic name, e.g. `EPERM`, or `errno N` when unknown.
    public var errnoName: String { Errno.name(errno) }

    /// Human text for the errno (libbpf's strerror, which also knows the 4000+ range).
    public var reason: String { Libbpf.describe(errno: errno) }

    /// The last `lines` lines of the captured libbpf output.
    public func logTail(lines: Int = 20) -> String {
        libbpfLog.split(separator: "\n", omittingEmptySubsequences: true).suffix(lines).joined(separator: "\n")
    }

    public var description: String {
        var text = "\(subject): \(operation): \(reason) (\(errnoName))"
        let tail = logTail()
        if !tail.isEmpty { text += "\nlibbpf:\n" + tail }
        return text
    }
}

/// Symbolic errno names for the values BPF operations return.
public enum Errno {
    static let names: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", ESRCH: "ESRCH", EINTR: "EINTR", EIO: "EIO", E2BIG: "E2BIG",
        EBADF: "EBADF", EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT",
        EBUSY: "EBUSY", EEXIST: "EEXIST", ENODEV: "ENODEV", EINVAL: "EINVAL", ENOSPC: "ENOSPC",
        ERANGE: "ERANGE", ENOSYS: "ENOSYS", EOPNOTSUPP: "EOPNOTSUPP",
        524: "ENOTSUPP", ESTALE: "ESTALE",
        4000: "LIBBPF_ERRNO__LIBELF", 4001: "LIBBPF_ERRNO__FORMAT", 4002: "LIBBPF_ERRNO__KVERSION",
        4003: "LIBBPF_ERRNO__ENDIAN", 4004: "LIBBPF_ERRNO__INTERNAL", 4005: "LIBBPF_ERRNO__RELOC",
        4006: "LIBBPF_ERRNO__LOAD", 4007: "LIBBPF_ERRNO__VERIFY", 4008: "LIBBPF_ERRNO__PROG2BIG",
        4009: "LIBBPF_ERRNO__KVER", 4010: "LIBBPF_ERRNO__PROGTYPE", 4011: "LIBBPF_ERRNO__WRNGPID",
        4012: "LIBBPF_ERRNO__INVSEQ", 4013: "LIBBPF_ERRNO__NLPARSE",
    ]

    /// `EPERM` for 1, and so on; `errno N` for values without a name here.
    public static func name(_ value: Int32) -> String { names[value] ?? "errno \(value)" }
}
