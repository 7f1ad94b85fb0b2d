/// A detection made in user space from kernel facts (a download piped to a shell, a reverse
/// shell, a burst of discovery commands, a program deleting itself).
public struct DetectionEvent: Sendable, Equatable {
    /// Every JSON event name a detection has: the one list export filters, the policy test
    /// runner and the API read.
    public static let kinds = ["process_pipeline", "process_reverse_shell", "process_discovery", "process_evasion", "process_account"]

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

/// The detections the agent makes at each exec from kernel facts and the process cache: a
/// reverse shell, a program deleting itself, a burst of discovery, a pipeline into a shell.
/// One place builds their events (name, detection, message, tags); the agent only feeds it.
public struct ExecDetections: Sendable {
    var pipelines = PipelineDetector()
    var discovery = DiscoveryDetector()
    /// The account tools started last, oldest first, with their wall-clock start: an account
    /// change the agent finds in the files is attributed to the last one that started before
    /// the file changed (`accountTool(before:)`).
    var recentAccountTools: [(process: ProcessEntry, wallNs: UInt64)] = []
    static let accountTools: Set<Substring> = [
        "useradd", "usermod", "adduser", "gpasswd", "groupadd", "groupmod", "addgroup", "newusers", "vipw", "vigr", "luseradd", "lusermod",
        "lgroupmod",
    ]

    public init() {}

    /// One exec: `p` as the cache recorded it, the exec record's stdio facts, its times, and
    /// the cache's parent lookup. Returns the detections it completes (usually none).
    public mutating func observe(
        _ p: ProcessEntry, stdinPipe: UInt64, stdoutPipe: UInt64, stdioSocket: Bool, parentStdioSocket: Bool, monotonicNs: UInt64,
        wallNs: UInt64, parent: (ProcessEntry) -> ProcessEntry?
    ) -> [DetectionEvent] {
        var out: [DetectionEvent] = []
        if Self.isAccountTool(p.binary) {
            if recentAccountTools.count == 8 { recentAccountTools.removeFirst() }
            recentAccountTools.append((p, wallNs))
        }
        if let sign = PipelineDetector.reverseShellSign(p, stdioSocket: stdioSocket, parentStdioSocket: parentStdioSocket, parent: parent(p)) {
            out.append(.reverseShell(sign, process: p, parent: parent(p), timeNs: wallNs))
        }
        if let deleted = SelfDeletionDetector.deletedAncestor(p, parent: parent) {
            out.append(
                DetectionEvent(
                    name: "process_evasion", detection: "program-deletes-itself", process: p, parent: parent(p), source: deleted,
                    message: "a running program or script deleted its own file", tags: ["defense-evasion", "T1070.004"], timeNs: wallNs))
        }
        if let b = discovery.observe(p, timeNs: monotonicNs, parent: parent) {
            out.append(
                DetectionEvent(
                    name: "process_discovery", detection: "discovery-burst", process: b.session, parent: parent(b.session), source: p,
                    message: "\(b.commands.count) discovery commands from one session within \(discovery.window / 1_000_000_000) s: "
                        + b.commands.joined(separator: ", "),
                    tags: ["discovery"] + b.techniques, timeNs: wallNs))
        }
        if stdinPipe != 0 || stdoutPipe != 0, let m = pipelines.observe(p, stdinPipe: stdinPipe, stdoutPipe: stdoutPipe, timeNs: monotonicNs) {
            out.append(.pipeline(m, parent: parent(m.shell), timeNs: wallNs))
        }
        return out
    }
}

extension ExecDetections {
    /// Whether `binary` is one of the system's account tools (useradd, usermod, gpasswd, ...).
    /// (Asked for every exec and exit: the first letter rules out most programs unhashed.)
    public static func isAccountTool(_ binary: String) -> Bool {
        guard let slash = binary.utf8.lastIndex(of: UInt8(ascii: "/")) else { return false }
        let name = binary[binary.index(after: slash)...]
        guard let first = name.utf8.first, accountToolInitials.contains(first) else { return false }
        return accountTools.contains(name)
    }

    private static let accountToolInitials: [UInt8] = Array(Set(accountTools.compactMap(\.utf8.first)))

    /// The account tool that made a change at `changeNs` (wall clock): the last one started
    /// before it, within a minute.
    public func accountTool(before changeNs: UInt64) -> ProcessEntry? {
        recentAccountTools.last { $0.wallNs <= changeNs && changeNs - $0.wallNs < 60_000_000_000 }?.process
    }
}

extension DetectionEvent {
    /// A shell driven over a connection.
    static func reverseShell(_ sign: PipelineDetector.ReverseShellSign, process: ProcessEntry, parent: ProcessEntry?, timeNs: UInt64) -> DetectionEvent {
        let ownSocket = sign == .stdioSocket
        return DetectionEvent(
            name: "process_reverse_shell", detection: ownSocket ? "reverse-shell-stdio-socket" : "reverse-shell-parent-socket", process: process,
            parent: parent, source: nil,
            message: ownSocket
                ? "shell started with a socket as its standard input or output"
                : "shell started on a pty or socket by a program that holds a network connection",
            tags: ["execution", "command-and-control", "T1059.004", "T1095"], timeNs: timeNs)
    }

    /// A pipeline the detector completed: a shell fed by a download or a decoder, or a shell
    /// joined to a network tool by pipes (a reverse shell that holds no socket).
    static func pipeline(_ m: PipelineDetector.Match, parent: ProcessEntry?, timeNs: UInt64) -> DetectionEvent {
        let (name, detection, message, tags): (String, String, String, [String])
        switch m.kind {
        case .download:
            (name, detection, message, tags) = (
                "process_pipeline", "download-piped-to-shell", "output of a download tool piped into a shell or interpreter",
                ["execution", "T1059.004", "T1105"]
            )
        case .decoder:
            (name, detection, message, tags) = (
                "process_pipeline", "decoded-data-piped-to-shell", "output of a decoder piped into a shell or interpreter",
                ["defense-evasion", "execution", "T1140", "T1027", "T1059.004"]
            )
        case .networkToShell:
            (name, detection, message, tags) = (
                "process_reverse_shell", "reverse-shell-network-pipe", "output of a network tool piped into a shell or interpreter",
                ["execution", "command-and-control", "T1059.004", "T1095"]
            )
        case .shellToNetwork:
            (name, detection, message, tags) = (
                "process_reverse_shell", "reverse-shell-network-pipe", "shell fed by a pipe writing its output into a network tool",
                ["execution", "command-and-control", "T1059.004", "T1095"]
            )
        }
        return DetectionEvent(
            name: name, detection: detection, process: m.shell, parent: parent, source: m.source, message: message, tags: tags, timeNs: timeNs)
    }
}
