import BPFKit
import KernelFeatures

#if canImport(Glibc)
    import Glibc
#endif

/// How the network sensor sees accepted TCP connections: the one place that names the ways,
/// their programs in network.bpf.c and which one a kernel gets.
///
/// - `fexit`: inet_csk_accept's return, in the accepting process. Needs trampolines.
/// - `handshake`: the passive connection's SYN_RECV -> ESTABLISHED on the tp_btf program the
///   sensor runs anyway, named by the listening socket's owner (who called listen(), or for
///   listeners older than the agent the process holding them). Nothing on any syscall's path;
///   the process is the listener's owner, which for a pre-forking server is the process that
///   listened (its workers accept) and for a socket-activated service is the manager that
///   listened for it.
/// - `syscalls`: the accept syscalls' exit tracepoints, in the accepting process. Exact like
///   fexit, but any enabled syscall tracepoint sends every syscall on the machine through the
///   kernel's tracing path (+4% on a fork+exec here, BENCHMARKS.md), so it is opt-in.
public enum AcceptHook: String, CaseIterable, Sendable {
    case auto, fexit, handshake, syscalls

    /// The way `auto` takes on this kernel: the accept tier of the hook-tier table (what
    /// `vigil probe` shows), fexit only where the function is in the kernel's BTF as well.
    public static func resolve(_ requested: AcceptHook, probe: FeatureProbe = .shared) throws(BPFError) -> AcceptHook {
        let tier = KernelReport.choose(.acceptObservation, bpfLSMActive: false, status: probe.status).tier?.name
        let trampoline = tier == "fexit" && KernelBTF.hasFunction("inet_csk_accept")
        switch requested {
        case .auto: return trampoline ? .fexit : .handshake
        case .fexit where !trampoline:
            throw BPFError(
                operation: "accept hook",
                subject: "fexit/inet_csk_accept: this kernel has no usable trampolines (\(probe.status(.fexit))); use --accept-hook handshake or syscalls",
                errno: EOPNOTSUPP)
        default: return requested
        }
    }

    /// The programs this way loads (network.bpf.c); the sensor drops the other ways' programs.
    var programs: Set<String> {
        switch self {
        case .fexit: ["net_accept_fexit"]
        case .syscalls: ["net_accept4", "net_accept"]
        case .auto, .handshake: []  // the state-change program, which every way loads
        }
    }

    static let allPrograms = Set(allCases.flatMap(\.programs))

    /// What `vigil agent` logs as accept.hook.
    public var description: String {
        switch self {
        case .auto: "auto"
        case .fexit: "fexit/inet_csk_accept"
        case .handshake: "tp_btf/inet_sock_set_state (listener owner)"
        case .syscalls: "tracepoint/syscalls/sys_exit_accept{,4}"
        }
    }
}
