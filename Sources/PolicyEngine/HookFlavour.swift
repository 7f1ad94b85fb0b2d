import CVigilABI

/// Which program of bpf/progs/hook.bpf.c a hook runs as, and where it attaches.
public enum HookFlavour: String, Sendable, CaseIterable {
    case tracepoint
    case rawTracepoint = "raw_tp"
    case kprobe, kretprobe, fentry, fexit
    case fmodRet = "fmod_ret"
    case lsm
    /// A connect hook lowered to cgroup sock_addr programs (see `ConnectLowering`).
    case cgroupConnect4 = "cgroup/connect4"
    case cgroupConnect6 = "cgroup/connect6"
    /// sched/sched_process_exec as tp_btf (HookPlacement.place).
    case execBTF = "tp_btf/sched_process_exec"
    /// A user-space function (`uprobes:`).
    case uprobe
    /// A syscall's exit tracepoint, judging what the syscall resolved (TracepointHook's lowering).
    case syscallExit = "tracepoint/syscalls/sys_exit"
    /// io_uring's form of an open hook: the file a request opened or used, at its completion (IOUringLowering).
    case ioUringComplete = "tracepoint/io_uring/io_uring_complete"
    /// io_uring's form of a rename, link, unlink or mkdir hook: the request's names, when submitted (IOUringLowering).
    case ioUringSubmit = "tracepoint/io_uring/io_uring_submit_req"

    /// The kernel's flavour (vigil_concepts.h VIGIL_HOOK_FLAVOUR_LIST).
    public var code: UInt32 {
        switch self {
        case .tracepoint: VIGIL_HOOK_TRACEPOINT
        case .rawTracepoint: VIGIL_HOOK_RAW_TP
        case .kprobe: VIGIL_HOOK_KPROBE
        case .kretprobe: VIGIL_HOOK_KRETPROBE
        case .fentry: VIGIL_HOOK_FENTRY
        case .fexit: VIGIL_HOOK_FEXIT
        case .fmodRet: VIGIL_HOOK_FMOD_RET
        case .lsm: VIGIL_HOOK_LSM
        case .cgroupConnect4: VIGIL_HOOK_CGROUP_SOCK4
        case .cgroupConnect6: VIGIL_HOOK_CGROUP_SOCK6
        case .execBTF: VIGIL_HOOK_EXEC_BTF
        case .uprobe: VIGIL_HOOK_UPROBE
        case .syscallExit: VIGIL_HOOK_SYSCALL_EXIT
        case .ioUringComplete: VIGIL_HOOK_IOURING_COMPLETE
        case .ioUringSubmit: VIGIL_HOOK_IOURING_SUBMIT
        }
    }

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
        case .cgroupConnect4: "hook_connect4"
        case .cgroupConnect6: "hook_connect6"
        case .execBTF: "hook_exec_btf"
        case .uprobe: "hook_uprobe"
        case .syscallExit: "hook_syscall_exit"
        case .ioUringComplete: "hook_io_uring_complete"
        case .ioUringSubmit: "hook_io_uring_submit"
        }
    }

    /// Trampoline and LSM programs bind their target function before load.
    var needsAttachTargetAtLoad: Bool { [.fentry, .fexit, .fmodRet, .lsm].contains(self) }

    /// Whether the program's return value can deny (Override).
    public var canOverride: Bool { self == .lsm || self == .fmodRet || isCgroup }

    /// The program kept next to a cgroup connect program that signals: it sends the signal
    /// at the connect syscall's exit (bpf_send_signal is a tracing helper).
    static let deferredSignalProgram = "hook_connect_exit"

    /// A cgroup sock_addr program: attached to the cgroup v2 root, arguments from its context.
    public var isCgroup: Bool { self == .cgroupConnect4 || self == .cgroupConnect6 }

    /// Whether arguments are read at function entry (a kretprobe runs after the registers are reused).
    var readsArguments: Bool { self != .kretprobe }
}

/// Where a hook's program attaches.
public enum AttachPoint: Sendable, Equatable, CustomStringConvertible {
    case tracepoint(subsystem: String, event: String)
    case rawTracepoint(event: String)
    case function(symbol: String)
    case lsm(hook: String)
    /// The cgroup v2 root (a lowered connect hook: every process below it).
    case cgroupRoot
    /// A function of a user-space binary, by ELF symbol (or at a file offset when nil).
    case uprobe(binary: String, symbol: String?, offset: UInt64)

    public var description: String {
        switch self {
        case .tracepoint(let s, let e): "\(s)/\(e)"
        case .rawTracepoint(let e): e
        case .function(let f): f
        case .lsm(let h): h
        case .cgroupRoot: "cgroup v2 root"
        case .uprobe(let b, let s, let o): "\(b):\(s ?? "0x" + String(o, radix: 16))"
        }
    }
}
