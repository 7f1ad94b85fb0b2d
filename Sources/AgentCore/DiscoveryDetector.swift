/// A burst of discovery: many different reconnaissance commands (`id`, `uname -a`, `ip a`,
/// `ss -tlpn`, `ps aux`, `getent passwd`, ...) run from one session within a short window,
/// the first thing an intruder does on a new host. Each command alone is ordinary; an alert
/// per command would be noise. One alert per session and window, naming the commands; the
/// session's commands after it in the same window raise nothing.
///
/// A session is the outermost of the shells, interpreters and command wrappers the command
/// descends from without a break (`python implant -> sh -c -> whoami`, `bash -> env id`,
/// `bash -> xargs -> uname` alike), so a script's or an implant's commands count together
/// however each was started.
public struct DiscoveryDetector: Sendable {
    /// Reconnaissance commands by program name, with the ATT&CK technique each serves.
    public static let commands: [String: String] = [
        // system information (T1082)
        "uname": "T1082", "hostname": "T1082", "hostnamectl": "T1082", "lsb_release": "T1082", "lscpu": "T1082",
        "lsblk": "T1082", "lspci": "T1082", "lsusb": "T1082", "lsmod": "T1082", "dmidecode": "T1082", "dmesg": "T1082",
        "df": "T1082", "free": "T1082", "uptime": "T1082", "nproc": "T1082", "getconf": "T1082", "arch": "T1082",
        "systemd-detect-virt": "T1082", "virt-what": "T1082",
        // users and owners (T1033), accounts and groups (T1087, T1069)
        "id": "T1033", "whoami": "T1033", "w": "T1033", "who": "T1033", "users": "T1033", "last": "T1033",
        "lastlog": "T1087", "getent": "T1087", "groups": "T1069", "lslogins": "T1087",
        // network configuration and connections (T1016, T1049)
        "ip": "T1016", "ifconfig": "T1016", "route": "T1016", "arp": "T1016", "iwconfig": "T1016", "nmcli": "T1016",
        "resolvectl": "T1016", "iptables": "T1016", "nft": "T1016", "netstat": "T1049", "ss": "T1049", "lsof": "T1049",
        // processes and services (T1057, T1007), time (T1124), security software (T1518.001)
        "ps": "T1057", "pstree": "T1057", "pgrep": "T1057", "top": "T1057", "systemctl": "T1007", "service": "T1007",
        "timedatectl": "T1124", "sestatus": "T1518.001", "aa-status": "T1518.001", "getenforce": "T1518.001",
    ]

    /// Programs a session climbs through: shells, interpreters, and the programs that run a
    /// command for their caller (`env id`, `timeout 5 uname`, `find -exec`, `xargs`): put
    /// between a shell and its commands, they would make each command a session of its own.
    public static let chainPrograms: Set<String> = PipelineDetector.shells.union(PipelineDetector.shellsOnly).union([
        "env", "timeout", "nohup", "setsid", "nice", "ionice", "stdbuf", "time", "sudo", "su", "doas", "runuser", "busybox",
        "xargs", "find", "chroot", "flock", "script", "taskset", "chrt", "watch", "unbuffer", "parallel",
    ])

    /// Package tools: their maintainer scripts look around the system by design.
    public static let packageTools: Set<String> = ["dpkg", "apt", "apt-get", "aptitude", "unattended-upgrade", "packagekitd"]

    public var window: UInt64 = 60_000_000_000
    /// Different commands within the window that make a burst.
    public var threshold = 6
    static let capacity = 4096
    static let climbLimit = 8

    struct Session: Sendable {
        var start: UInt64
        var commands: [String]
        var alerted: Bool
    }

    private var sessions: [ExecIdentity: Session] = [:]

    public init() {}

    /// A burst this exec completes: the session's process, the commands in the order first run.
    public struct Burst: Sendable, Equatable {
        public var session: ProcessEntry
        public var commands: [String]
        public var techniques: [String]
    }

    /// Looks at one exec; `parent` looks a process's parent up (the process cache).
    public mutating func observe(_ p: ProcessEntry, timeNs: UInt64, parent: (ProcessEntry) -> ProcessEntry?) -> Burst? {
        let name = String(PipelineDetector.base(p.binary))
        guard Self.commands[name] != nil, let session = Self.session(of: p, parent: parent) else { return nil }
        var s = sessions[session.id] ?? Session(start: timeNs, commands: [], alerted: false)
        // a session's commands on two CPUs can be read a little out of time order: only a later
        // exec past the window starts a new session (an earlier one wrapped and reset it)
        if timeNs > s.start, timeNs - s.start > window { s = Session(start: timeNs, commands: [], alerted: false) }
        if s.alerted { return nil }
        if !s.commands.contains(name) { s.commands.append(name) }
        var burst: Burst?
        if s.commands.count >= threshold {
            s.alerted = true
            var techniques: [String] = []
            for c in s.commands { if let t = Self.commands[c], !techniques.contains(t) { techniques.append(t) } }
            burst = Burst(session: session, commands: s.commands, techniques: techniques)
        }
        if sessions[session.id] == nil, sessions.count >= Self.capacity {
            let cut = sessions.values.map(\.start).sorted()[Self.capacity / 2]
            sessions = sessions.filter { $0.value.start >= cut }
        }
        sessions[session.id] = s
        return burst
    }

    /// The outermost of the shells, interpreters and wrappers above `p` without a break, else
    /// its parent (a daemon running commands itself); nil when a package tool is among the
    /// ancestors.
    static func session(of p: ProcessEntry, parent: (ProcessEntry) -> ProcessEntry?) -> ProcessEntry? {
        guard var session = parent(p) else { return nil }
        var cursor: ProcessEntry? = session
        var depth = 0
        while let c = cursor, depth < climbLimit, chainPrograms.contains(String(PipelineDetector.base(c.binary))) {
            session = c
            cursor = parent(c)
            depth += 1
        }
        // the package tools sit above the shell their maintainer scripts run in
        var above = cursor
        depth = 0
        while let a = above, depth < climbLimit {
            if packageTools.contains(String(PipelineDetector.base(a.binary))) { return nil }
            above = parent(a)
            depth += 1
        }
        return session
    }
}
