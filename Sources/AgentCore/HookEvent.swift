/// One argument of a hook event, typed as Tetragon's JSON names it (`int_arg`, `file_arg`, ...).
public enum HookArgValue: Sendable, Equatable {
    case int(Int64)  // int_arg
    case uint(UInt64)  // uint_arg
    case size(UInt64)  // size_arg
    case long(Int64)  // long_arg
    case string(String)  // string_arg
    case bytes([UInt8], truncated: Bool, originalSize: UInt64)  // bytes_arg / truncated_bytes_arg
    case file(path: String, permission: String)  // file_arg
    case path(path: String, permission: String)  // path_arg
    case linuxBinprm(path: String, permission: String)  // linux_binprm_arg
    case sock(SocketInfo)  // sock_arg
    case sockaddr(family: String, address: String, port: UInt16)  // sockaddr_arg
    case sockaddrUn(family: String, path: String)  // sockaddrun_arg
    case credentials(Credentials)  // process_credentials_arg
    case skb(SocketInfo, length: UInt64)  // skb_arg
    case netDevice(String)  // net_dev_arg
    case module(String)  // module_arg
    case capability(Int64)  // capability_arg
    case userNamespace(level: UInt32, uid: UInt32, gid: UInt32, inum: UInt32)  // user_ns_arg
    case unreadable(String)  // the kernel could not read it; the reason

    public struct Credentials: Sendable, Equatable {
        public var uid, gid, euid, egid, suid, sgid, fsuid, fsgid: UInt32
        public var capPermitted, capEffective, capInheritable: UInt64
        public init(
            uid: UInt32, gid: UInt32, euid: UInt32, egid: UInt32, suid: UInt32, sgid: UInt32, fsuid: UInt32, fsgid: UInt32,
            capPermitted: UInt64, capEffective: UInt64, capInheritable: UInt64
        ) {
            (self.uid, self.gid, self.euid, self.egid, self.suid, self.sgid, self.fsuid, self.fsgid) = (uid, gid, euid, egid, suid, sgid, fsuid, fsgid)
            (self.capPermitted, self.capEffective, self.capInheritable) = (capPermitted, capEffective, capInheritable)
        }
    }

    public struct SocketInfo: Sendable, Equatable {
        public var family: String
        public var type: String
        public var proto: String
        public var saddr: String
        public var daddr: String
        public var sport: UInt16
        public var dport: UInt16
        public var state: String
        public init(family: String, type: String, protocol: String, saddr: String, daddr: String, sport: UInt16, dport: UInt16, state: String) {
            self.family = family
            self.type = type
            self.proto = `protocol`
            self.saddr = saddr
            self.daddr = daddr
            self.sport = sport
            self.dport = dport
            self.state = state
        }
    }
}

/// A hook argument with the label the policy gave it.
public struct HookArgument: Sendable, Equatable {
    public var value: HookArgValue
    public var label: String?
    public init(_ value: HookArgValue, label: String? = nil) {
        self.value = value
        self.label = label
    }
}

/// What a policy hook reported: Tetragon's `process_kprobe`, `process_tracepoint`, `process_lsm`,
/// `process_uprobe`.
public struct HookEvent: Sendable, Equatable {
    public enum Family: String, Sendable {
        case kprobe = "process_kprobe"
        case tracepoint = "process_tracepoint"
        case lsm = "process_lsm"
        case uprobe = "process_uprobe"
    }
    public var family: Family
    public var process: ProcessEntry
    public var parent: ProcessEntry?
    /// kprobes: the kernel function; lsm: the hook name; uprobes: the symbol.
    public var functionName: String
    /// tracepoints: subsystem and event.
    public var subsystem: String
    public var event: String
    /// uprobes: the probed binary or library, and the file offset when placed by offset.
    public var path: String
    public var offset: UInt64?
    public var args: [HookArgument]
    public var returnValue: HookArgument?
    /// Tetragon's action name, e.g. KPROBE_ACTION_POST, KPROBE_ACTION_SIGKILL.
    public var action: String
    public var policyName: String
    public var message: String?
    public var tags: [String]
    public var timeNs: UInt64

    public init(
        family: Family, process: ProcessEntry, parent: ProcessEntry?, functionName: String, subsystem: String = "", event: String = "",
        path: String = "", offset: UInt64? = nil, args: [HookArgument], returnValue: HookArgument? = nil, action: String, policyName: String, message: String?,
        tags: [String], timeNs: UInt64
    ) {
        self.family = family
        self.process = process
        self.parent = parent
        self.functionName = functionName
        self.subsystem = subsystem
        self.event = event
        self.path = path
        self.offset = offset
        self.args = args
        self.returnValue = returnValue
        self.action = action
        self.policyName = policyName
        self.message = message
        self.tags = tags
        self.timeNs = timeNs
    }
}
