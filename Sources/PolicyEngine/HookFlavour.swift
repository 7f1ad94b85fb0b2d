import CVigilABI

/// Which program of bpf/progs/hook.bpf.c a hook runs as, and where it attaches.
public enum HookFlavour: String, Sendable, CaseIterable {
    case tracepoint, rawTracepoint = "raw_tp", kprobe, kretprobe, fentry, fexit, fmodRet = "fmod_ret", lsm

    /// The C function in hook.bpf.c.
    var programName: String {
        switch self {
        case .tracepoint: "hook_tracepoint"
        case .rawTracepoint: "hook_raw_tp"
        case .kprobe: "hook_kprobe"
        case .kretprobe: "hook_kretprobe"
        case .fentry: "hook_fentry"
        case .fexit: "hook_fexit"
        case .fmodRet: "hook_fmod_ret"
        case .lsm: "hook_lsm"
        }
    }

    /// Trampoline and LSM programs bind their target function before load.
    var needsAttachTargetAtLoad: Bool { [.fentry, .fexit, .fmodRet, .lsm].contains(self) }

    /// Whether the program's return value can deny (Override).
    public var canOverride: Bool { self == .lsm || self == .fmodRet }

    /// Whether arguments are read at function entry (a kretprobe runs after the registers are reused).
    var readsArguments: Bool { self != .kretprobe }
}

/// Where a hook's program attaches.
public enum AttachPoint: Sendable, Equatable, CustomStringConvertible {
    case tracepoint(subsystem: String, event: String)
    case rawTracepoint(event: String)
    case function(symbol: String)
    case lsm(hook: String)

    public var description: String {
        switch self {
        case .tracepoint(let s, let e): "\(s)/\(e)"
        case .rawTracepoint(let e): e
        case .function(let f): f
        case .lsm(let h): h
        }
    }
}
