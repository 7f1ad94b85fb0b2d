import BPFKit

/// Something the running kernel may or may not offer, learned by trying it (see `FeatureProbe`).
///
/// This enum is the one place a feature is declared: its probe program, how the probe
/// attaches, and the upstream kernel that introduced it. Adding a feature means adding a
/// case here and, if it needs one, a program in `bpf/progs/probe.bpf.c`.
public enum KernelFeature: String, CaseIterable, Sendable, Codable, CustomStringConvertible {
    case btf
    case ringBuffer = "ring_buffer"
    case tracepoint
    case rawTracepoint = "raw_tp"
    case tpBTF = "tp_btf"
    case kprobe
    case kprobeMulti = "kprobe_multi"
    case uprobe
    case fentry
    case fexit
    case fmodRet = "fmod_ret"
    case lsm
    case cgroupSockAddr = "cgroup_sock_addr"
    case cgroupSKB = "cgroup_skb"
    case tc
    case tcx
    case sendSignal = "send_signal"
    case overrideReturn = "override_return"
    case dPath = "d_path"
    case currentTaskBTF = "get_current_task_btf"

    public var description: String { rawValue }

    /// How a feature is tried.
    public enum ProbeKind: Sendable {
        /// Load the named program from the probe object and stop there (helpers, map types).
        case load(program: String)
        /// Load the named program, then attach it and detach again.
        case attach(program: String, how: AttachHow)
        /// Load the kernel's own BTF.
        case vmlinuxBTF
    }

    /// How a probe program is attached.
    public enum AttachHow: Sendable {
        /// Where the program's section says (tracing, kprobe, LSM programs).
        case bySection
        /// To the cgroup v2 root.
        case cgroupRoot
        /// As a tc filter on loopback ingress.
        case tcLoopback
        /// As a tcx link on loopback ingress.
        case tcxLoopback
        /// As a uprobe on a function of the probing executable (`UprobeSelfTarget`).
        case uprobeSelf
    }

    /// The probe for this feature.
    public var probe: ProbeKind {
        switch self {
        case .btf: .vmlinuxBTF
        case .ringBuffer: .load(program: "probe_ring_buffer")
        case .tracepoint: .attach(program: "probe_tracepoint", how: .bySection)
        case .rawTracepoint: .attach(program: "probe_raw_tp", how: .bySection)
        case .tpBTF: .attach(program: "probe_tp_btf", how: .bySection)
        case .kprobe: .attach(program: "probe_kprobe", how: .bySection)
        case .kprobeMulti: .attach(program: "probe_kprobe_multi", how: .bySection)
        case .uprobe: .attach(program: "probe_uprobe", how: .uprobeSelf)
        case .fentry: .attach(program: "probe_fentry", how: .bySection)
        case .fexit: .attach(program: "probe_fexit", how: .bySection)
        case .fmodRet: .attach(program: "probe_fmod_ret", how: .bySection)
        case .lsm: .attach(program: "probe_lsm", how: .bySection)
        case .cgroupSockAddr: .attach(program: "probe_cgroup_sock_addr", how: .cgroupRoot)
        case .cgroupSKB: .attach(program: "probe_cgroup_skb", how: .cgroupRoot)
        case .tc: .attach(program: "probe_tc", how: .tcLoopback)
        case .tcx: .attach(program: "probe_tcx", how: .tcxLoopback)
        case .sendSignal: .load(program: "probe_send_signal")
        case .overrideReturn: .load(program: "probe_override_return")
        case .dPath: .load(program: "probe_d_path")
        case .currentTaskBTF: .load(program: "probe_current_task_btf")
        }
    }

    /// The upstream release that introduced the feature (distributions may still leave it out).
    public var since: KernelVersion {
        switch self {
        case .btf: KernelVersion(major: 5, minor: 4)
        case .ringBuffer: KernelVersion(major: 5, minor: 8)
        case .tracepoint: KernelVersion(major: 4, minor: 7)
        case .rawTracepoint: KernelVersion(major: 4, minor: 17)
        case .tpBTF: KernelVersion(major: 5, minor: 5)
        case .kprobe: KernelVersion(major: 4, minor: 1)
        case .kprobeMulti: KernelVersion(major: 5, minor: 18)
        case .uprobe: KernelVersion(major: 4, minor: 3)
        case .fentry, .fexit: KernelVersion(major: 5, minor: 5)
        case .fmodRet: KernelVersion(major: 5, minor: 7)
        case .lsm: KernelVersion(major: 5, minor: 7)
        case .cgroupSockAddr: KernelVersion(major: 4, minor: 17)
        case .cgroupSKB: KernelVersion(major: 4, minor: 10)
        case .tc: KernelVersion(major: 4, minor: 1)
        case .tcx: KernelVersion(major: 6, minor: 6)
        case .sendSignal: KernelVersion(major: 5, minor: 3)
        case .overrideReturn: KernelVersion(major: 4, minor: 16)
        case .dPath: KernelVersion(major: 5, minor: 10)
        case .currentTaskBTF: KernelVersion(major: 5, minor: 11)
        }
    }

    /// One line saying what the feature is for.
    public var summary: String {
        switch self {
        case .btf: "kernel BTF (/sys/kernel/btf/vmlinux), needed for CO-RE"
        case .ringBuffer: "BPF ring buffer map"
        case .tracepoint: "classic tracepoint programs"
        case .rawTracepoint: "raw tracepoint programs"
        case .tpBTF: "BTF-typed raw tracepoints"
        case .kprobe: "kprobe/kretprobe on kernel functions"
        case .kprobeMulti: "kprobe.multi links (many functions, one link)"
        case .uprobe: "uprobe on user-space functions (uprobes: in policies)"
        case .fentry: "fentry trampolines"
        case .fexit: "fexit trampolines"
        case .fmodRet: "fmod_ret on security_*/error-injectable functions"
        case .lsm: "BPF-LSM programs"
        case .cgroupSockAddr: "cgroup sock_addr programs (connect/sendmsg deny)"
        case .cgroupSKB: "cgroup skb programs"
        case .tc: "tc (clsact) classifier programs"
        case .tcx: "tcx links"
        case .sendSignal: "bpf_send_signal helper (kill)"
        case .overrideReturn: "bpf_override_return helper"
        case .dPath: "bpf_d_path helper"
        case .currentTaskBTF: "bpf_get_current_task_btf helper"
        }
    }
}
