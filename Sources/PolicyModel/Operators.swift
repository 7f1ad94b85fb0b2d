/// matchArgs / matchData / matchReturnArgs operators (Tetragon's CRD enum).
public enum ArgOperator: String, PolicyEnum {
    case equal = "Equal"
    case notEqual = "NotEqual"
    case prefix = "Prefix"
    case notPrefix = "NotPrefix"
    case postfix = "Postfix"
    case notPostfix = "NotPostfix"
    case greaterThan = "GreaterThan"
    case lessThan = "LessThan"
    case gt = "GT"
    case lt = "LT"
    case mask = "Mask"
    case inRange = "InRange"
    case notInRange = "NotInRange"
    case sPort = "SPort"
    case notSPort = "NotSPort"
    case sPortPriv = "SPortPriv"
    case notSPortPriv = "NotSportPriv"
    case dPort = "DPort"
    case notDPort = "NotDPort"
    case dPortPriv = "DPortPriv"
    case notDPortPriv = "NotDPortPriv"
    case sAddr = "SAddr"
    case notSAddr = "NotSAddr"
    case dAddr = "DAddr"
    case notDAddr = "NotDAddr"
    case proto = "Protocol"
    case family = "Family"
    case state = "State"
    case inMap = "InMap"
    case notInMap = "NotInMap"
    case capabilitiesGained = "CapabilitiesGained"
    case subString = "SubString"
    case subStringIgnCase = "SubStringIgnCase"
    case fileType = "FileType"
    case notFileType = "NotFileType"
    case celExpr = "CelExpr"
    // Which arguments it applies to, the values it takes and its kernel code: OperatorRules.swift.
}

/// matchBinaries / matchParentBinaries operators.
public enum BinaryOperator: String, PolicyEnum {
    case `in` = "In"
    case notIn = "NotIn"
    case prefix = "Prefix"
    case notPrefix = "NotPrefix"
    case postfix = "Postfix"
    case notPostfix = "NotPostfix"
}

/// In / NotIn, for PIDs, namespaces and capabilities.
public enum SetOperator: String, PolicyEnum {
    case `in` = "In"
    case notIn = "NotIn"
}

/// Namespace kinds for matchNamespaces / matchNamespaceChanges.
public enum NamespaceKind: String, PolicyEnum {
    case uts = "Uts"
    case ipc = "Ipc"
    case mnt = "Mnt"
    case pid = "Pid"
    case pidForChildren = "PidForChildren"
    case net = "Net"
    case time = "Time"
    case timeForChildren = "TimeForChildren"
    case cgroup = "Cgroup"
    case user = "User"
}

/// Which capability set matchCapabilities looks at.
public enum CapabilitySet: String, PolicyEnum {
    case effective = "Effective"
    case inheritable = "Inheritable"
    case permitted = "Permitted"
}

/// Linux capabilities by name (include/uapi/linux/capability.h), in bit order.
public enum CapabilityName: String, PolicyEnum {
    case chown = "CAP_CHOWN"
    case dacOverride = "CAP_DAC_OVERRIDE"
    case dacReadSearch = "CAP_DAC_READ_SEARCH"
    case fowner = "CAP_FOWNER"
    case fsetid = "CAP_FSETID"
    case kill = "CAP_KILL"
    case setgid = "CAP_SETGID"
    case setuid = "CAP_SETUID"
    case setpcap = "CAP_SETPCAP"
    case linuxImmutable = "CAP_LINUX_IMMUTABLE"
    case netBindService = "CAP_NET_BIND_SERVICE"
    case netBroadcast = "CAP_NET_BROADCAST"
    case netAdmin = "CAP_NET_ADMIN"
    case netRaw = "CAP_NET_RAW"
    case ipcLock = "CAP_IPC_LOCK"
    case ipcOwner = "CAP_IPC_OWNER"
    case sysModule = "CAP_SYS_MODULE"
    case sysRawio = "CAP_SYS_RAWIO"
    case sysChroot = "CAP_SYS_CHROOT"
    case sysPtrace = "CAP_SYS_PTRACE"
    case sysPacct = "CAP_SYS_PACCT"
    case sysAdmin = "CAP_SYS_ADMIN"
    case sysBoot = "CAP_SYS_BOOT"
    case sysNice = "CAP_SYS_NICE"
    case sysResource = "CAP_SYS_RESOURCE"
    case sysTime = "CAP_SYS_TIME"
    case sysTTYConfig = "CAP_SYS_TTY_CONFIG"
    case mknod = "CAP_MKNOD"
    case lease = "CAP_LEASE"
    case auditWrite = "CAP_AUDIT_WRITE"
    case auditControl = "CAP_AUDIT_CONTROL"
    case setfcap = "CAP_SETFCAP"
    case macOverride = "CAP_MAC_OVERRIDE"
    case macAdmin = "CAP_MAC_ADMIN"
    case syslog = "CAP_SYSLOG"
    case wakeAlarm = "CAP_WAKE_ALARM"
    case blockSuspend = "CAP_BLOCK_SUSPEND"
    case auditRead = "CAP_AUDIT_READ"
    case perfmon = "CAP_PERFMON"
    case bpf = "CAP_BPF"
    case checkpointRestore = "CAP_CHECKPOINT_RESTORE"

    /// The capability's bit number.
    public var bit: Int { Self.allCases.firstIndex(of: self)! }

    /// The name events carry: Tetragon's CapabilitiesType enum, whose value 1 is DAC_OVERRIDE
    /// (no CAP_ prefix). A strict protojson parse of an event fails on any other spelling.
    public var eventName: String { self == .dacOverride ? "DAC_OVERRIDE" : rawValue }
}
