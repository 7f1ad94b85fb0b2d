/// A way of hosting one capability in the kernel, e.g. "file observation through fentry".
public struct HookTier: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Short name, e.g. `fentry`.
    public let name: String
    /// The attach point it uses, e.g. `fentry/security_file_open`.
    public let attachPoint: String
    /// Every feature it needs.
    public let requires: [KernelFeature]
    /// Whether it also needs `bpf` in the active LSM list.
    public let needsActiveBPFLSM: Bool

    public init(_ name: String, _ attachPoint: String, requires: [KernelFeature], needsActiveBPFLSM: Bool = false) {
        self.name = name
        self.attachPoint = attachPoint
        self.requires = requires
        self.needsActiveBPFLSM = needsActiveBPFLSM
    }

    public var description: String { "\(name) (\(attachPoint))" }
}

/// What Vigil's own sensors and its policy library do in the kernel, each hosted by the first
/// tier (in preference order) the running kernel supports: what `vigil probe` reports. Every
/// tier listed is one some code attaches (the sensors', or the policy library's forms). How a
/// policy's own hooks are placed is HookPlacement's table, which this one does not repeat.
public enum Capability: String, CaseIterable, Sendable, Codable {
    case execObservation = "exec"
    case fileObservation = "file"
    case networkObservation = "network"
    /// How the network sensor sees accepted connections (Sensors/AcceptHook.swift).
    case acceptObservation = "accept"
    case kill
    case denyFile = "deny-file"
    case denyNetwork = "deny-network"

    /// Tiers, best first: cheaper hooks and more precise attach points come first.
    public var tiers: [HookTier] {
        switch self {
        case .execObservation:
            [
                HookTier("tp_btf", "tp_btf/sched_process_exec", requires: [.tpBTF, .ringBuffer]),
                HookTier("tracepoint", "tracepoint/sched/sched_process_exec", requires: [.tracepoint, .ringBuffer]),
            ]
        case .fileObservation:
            // the policy library's file forms (credential-access, fim-sensitive-files, ...)
            [
                HookTier("lsm", "lsm/file_open, file_permission, path_* (the library's LSM forms)", requires: [.lsm, .ringBuffer], needsActiveBPFLSM: true),
                HookTier(
                    "tracepoint", "tracepoint/syscalls: opens judged at sys_exit_*, pathnames resolved at sys_enter_*",
                    requires: [.tracepoint, .ringBuffer]),
            ]
        case .networkObservation:
            [
                HookTier(
                    "tracepoint+cgroup", "tp_btf/inet_sock_set_state + cgroup/connect4,6, sendmsg4,6, cgroup_skb",
                    requires: [.tpBTF, .cgroupSockAddr, .ringBuffer])
            ]
        case .acceptObservation:
            // the opt-in third way, syscall exit tracepoints, is never chosen: it taxes every syscall
            [
                HookTier("fexit", "fexit/inet_csk_accept, in the accepting process", requires: [.fexit, .ringBuffer]),
                HookTier("handshake", "tp_btf/inet_sock_set_state, named by the listening socket's owner", requires: [.tpBTF, .ringBuffer]),
            ]
        case .kill:
            [HookTier("send_signal", "bpf_send_signal(SIGKILL) from the matching hook", requires: [.sendSignal])]
        case .denyFile:
            [
                HookTier("lsm", "lsm/file_open returns -EPERM", requires: [.lsm], needsActiveBPFLSM: true),
                HookTier("fmod_ret", "fmod_ret/security_file_open returns -EPERM (a kprobe with Override)", requires: [.fmodRet]),
            ]
        case .denyNetwork:
            [
                HookTier("lsm", "lsm/socket_connect returns -EPERM", requires: [.lsm], needsActiveBPFLSM: true),
                HookTier("cgroup", "cgroup/connect4,connect6,sendmsg4,sendmsg6 return 0 (EPERM)", requires: [.cgroupSockAddr]),
            ]
        }
    }
}
