/// matchArgs / matchData / matchReturnArgs operators (Tetragon's CRD enum).
public enum ArgOperator: String, PolicyEnum {
    case equal = "Equal", notEqual = "NotEqual"
    case prefix = "Prefix", notPrefix = "NotPrefix", postfix = "Postfix", notPostfix = "NotPostfix"
    case greaterThan = "GreaterThan", lessThan = "LessThan", gt = "GT", lt = "LT"
    case mask = "Mask"
    case inRange = "InRange", notInRange = "NotInRange"
    case sPort = "SPort", notSPort = "NotSPort", sPortPriv = "SPortPriv", notSPortPriv = "NotSportPriv"
    case dPort = "DPort", notDPort = "NotDPort", dPortPriv = "DPortPriv", notDPortPriv = "NotDPortPriv"
    case sAddr = "SAddr", notSAddr = "NotSAddr", dAddr = "DAddr", notDAddr = "NotDAddr"
    case proto = "Protocol", family = "Family", state = "State"
    case inMap = "InMap", notInMap = "NotInMap"
    case capabilitiesGained = "CapabilitiesGained"
    case subString = "SubString", subStringIgnCase = "SubStringIgnCase"
    case fileType = "FileType", notFileType = "NotFileType"
    case celExpr = "CelExpr"
    // Which arguments it applies to, the values it takes and its kernel code: OperatorRules.swift.
}

/// matchBinaries / matchParentBinaries operators.
public enum BinaryOperator: String, PolicyEnum {
    case `in` = "In", notIn = "NotIn", prefix = "Prefix", notPrefix = "NotPrefix", postfix = "Postfix", notPostfix = "NotPostfix"
}

/// In / NotIn, for PIDs, namespaces and capabilities.
public enum SetOperator: String, PolicyEnum {
    case `in` = "In", notIn = "NotIn"
}

/// Namespace kinds for matchNamespaces / matchNamespaceChanges.
public enum NamespaceKind: String, PolicyEnum {
    case uts = "Uts", ipc = "Ipc", mnt = "Mnt", pid = "Pid", pidForChildren = "PidForChildren", net = "Net"
    case time = "Time", timeForChildren = "TimeForChildren", cgroup = "Cgroup", user = "User"
}

/// Which capability set matchCapabilities looks at.
public enum CapabilitySet: String, PolicyEnum {
    case effective = "Effective", inheritable = "Inheritable", permitted = "Permitted"
}

/// Linux capabilities by name (include/uapi/linux/capability.h), in bit order.
public enum CapabilityName: String, PolicyEnum {
    case chown = "CAP_CHOWN", dacOverride = "CAP_DAC_OVERRIDE", dacReadSearch = "CAP_DAC_READ_SEARCH"
    case fowner = "CAP_FOWNER", fsetid = "CAP_FSETID", kill = "CAP_KILL", setgid = "CAP_SETGID"
    case setuid = "CAP_SETUID", setpcap = "CAP_SETPCAP", linuxImmutable = "CAP_LINUX_IMMUTABLE"
    case netBindService = "CAP_NET_BIND_SERVICE", netBroadcast = "CAP_NET_BROADCAST", netAdmin = "CAP_NET_ADMIN"
    case netRaw = "CAP_NET_RAW", ipcLock = "CAP_IPC_LOCK", ipcOwner = "CAP_IPC_OWNER", sysModule = "CAP_SYS_MODULE"
    case sysRawio = "CAP_SYS_RAWIO", sysChroot = "CAP_SYS_CHROOT", sysPtrace = "CAP_SYS_PTRACE"
    case sysPacct = "CAP_SYS_PACCT", sysAdmin = "CAP_SYS_ADMIN", sysBoot = "CAP_SYS_BOOT", sysNice = "CAP_SYS_NICE"
    case sysResource = "CAP_SYS_RESOURCE", sysTime = "CAP_SYS_TIME", sysTTYConfig = "CAP_SYS_TTY_CONFIG"
    case mknod = "CAP_MKNOD", lease = "CAP_LEASE", auditWrite = "CAP_AUDIT_WRITE", auditControl = "CAP_AUDIT_CONTROL"
    case setfcap = "CAP_SETFCAP", macOverride = "CAP_MAC_OVERRIDE", macAdmin = "CAP_MAC_ADMIN", syslog = "CAP_SYSLOG"
    case wakeAlarm = "CAP_WAKE_ALARM", blockSuspend = "CAP_BLOCK_SUSPEND", auditRead = "CAP_AUDIT_READ"
    case perfmon = "CAP_PERFMON", bpf = "CAP_BPF", checkpointRestore = "CAP_CHECKPOINT_RESTORE"

    /// The capability's bit number.
    public var bit: Int { Self.allCases.firstIndex(of: self)! }
}
