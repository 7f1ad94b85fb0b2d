import BPFKit
import Foundation

/// A place in the kernel a policy hook asks for, independent of policy syntax.
public enum HookTarget: Sendable, Equatable {
    /// A kernel function (kprobes:/fentries:), already resolved to its symbol.
    case function(symbol: String, isReturn: Bool, preferFentry: Bool)
    /// `readsFields`: whether the hook reads the tracepoint record's fields (its `args`).
    case tracepoint(subsystem: String, event: String, raw: Bool, readsFields: Bool = true)
    case lsm(hook: String)
    /// A user-space function of the binary or library at `path`.
    case uprobe(path: String)
    case usdt(path: String)
}

/// Where a hook lands on the running kernel, or why it cannot.
public struct Placement: Sendable, Equatable, Codable {
    /// The tier used (`fentry`, `kprobe`, `tracepoint`, `raw_tp`, `lsm`), nil when none can host it.
    public let tier: String?
    /// The attach point, e.g. `fentry/security_file_open`.
    public let attachPoint: String?
    /// For each tier tried and not used: why.
    public let skipped: [String]

    public init(tier: String?, attachPoint: String?, skipped: [String]) {
        self.tier = tier
        self.attachPoint = attachPoint
        self.skipped = skipped
    }
}

/// Which tiers can host a policy's hooks, in preference order: the one table of policy hook
/// placement (the compiler, explain and try all place through it). Vigil's own sensors are
/// reported by Capability (HookTier.swift).
public enum HookPlacement {
    /// Places `target` on the running kernel. `status` answers feature probes
    /// (normally `FeatureProbe.shared.status`); `hasBTF` says whether a function has BTF.
    public static func place(
        _ target: HookTarget, status: (KernelFeature) -> FeatureStatus = FeatureProbe.shared.status,
        hasBTF: (String) -> Bool = KernelBTF.hasFunction, hasSymbol: (String) -> Bool = KernelSymbols.hasFunction,
        tracepointExists: (String, String) -> Bool = tracepointExists,
        fileExists: (String) -> Bool = { FileManager.default.fileExists(atPath: $0) },
        bpfLSMActive: Bool = activeLSMs().contains("bpf")
    ) -> Placement {
        var skipped: [String] = []
        func attempt(_ tier: String, _ point: String, _ needs: [KernelFeature], _ extra: String? = nil) -> Placement? {
            let missing = needs.filter { !status($0).isSupported }
            if missing.isEmpty && extra == nil { return Placement(tier: tier, attachPoint: point, skipped: skipped) }
            skipped.append("\(tier): " + (missing.map { "\($0) \(status($0))" } + [extra].compactMap { $0 }).joined(separator: "; "))
            return nil
        }
        switch target {
        case .function(let symbol, let isReturn, let preferFentry):
            let trampoline: KernelFeature = isReturn ? .fexit : .fentry
            if preferFentry {
                let btf = hasBTF(symbol) ? nil : "\(symbol) has no BTF (trampolines need it)"
                if let p = attempt(trampoline.rawValue, "\(trampoline.rawValue)/\(symbol)", [trampoline], btf) { return p }
            }
            let probe = isReturn ? "kretprobe" : "kprobe"
            let exists = hasSymbol(symbol) ? nil : "no kernel function \(symbol) (not in /proc/kallsyms)"
            if let p = attempt(probe, "\(probe)/\(symbol)", [.kprobe], exists) { return p }
            if !isReturn, cgroupConnectForm(call: symbol) != nil,
                let p = attempt(cgroupConnectTier, "cgroup/connect4+connect6", [.cgroupSockAddr])
            {
                return p
            }
        case .tracepoint(let subsystem, let event, let raw, let readsFields):
            let exists = tracepointExists(subsystem, event) ? nil : "tracepoint \(subsystem)/\(event) does not exist on this kernel"
            if raw {
                if let p = attempt("raw_tp", "raw_tp/\(event)", [.rawTracepoint], exists) { return p }
            } else {
                // sched_process_exec without fields runs as tp_btf: matchBinaries and the posted
                // process read the process table, which the process sensor's own tp_btf program
                // updates on this tracepoint, so the hook must run after it. Programs on a
                // tracepoint run in attach order only among programs of one kind; the perf probe
                // behind classic tracepoint programs is registered by the first perf user on the
                // machine (another tracer, even before the agent started) and can run first. As
                // tp_btf, attached after the sensor, the hook runs after it whatever else is
                // attached. A hook that reads the record's fields keeps the classic tracepoint.
                if subsystem == "sched" && event == "sched_process_exec" && !readsFields,
                    let p = attempt("tp_btf", "tp_btf/\(event)", [.tpBTF], exists)
                {
                    return p
                }
                if let p = attempt("tracepoint", "tracepoint/\(subsystem)/\(event)", [.tracepoint], exists) { return p }
            }
        case .lsm(let hook):
            let active = bpfLSMActive ? nil : "bpf is not in the active LSM list (boot with lsm=...,bpf)"
            let btf = hasBTF("bpf_lsm_\(hook)") ? nil : "no LSM hook named \(hook) on this kernel"
            if let p = attempt("lsm", "lsm/\(hook)", [.lsm], [active, btf].compactMap { $0 }.first) { return p }
            if cgroupConnectForm(lsmHook: hook), let p = attempt(cgroupConnectTier, "cgroup/connect4+connect6", [.cgroupSockAddr]) { return p }
        case .uprobe(let path):
            let exists = fileExists(path) ? nil : "no file \(path) on this host"
            if let p = attempt("uprobe", "uprobe/\(path)", [.uprobe], exists) { return p }
        case .usdt:
            skipped.append("usdt: Vigil does not attach USDT probes yet")
        }
        return Placement(tier: nil, attachPoint: nil, skipped: skipped)
    }

    /// The tier of a connect hook run as cgroup connect4/connect6 programs (the engine's
    /// ConnectLowering), where the kernel cannot host the hook itself.
    public static let cgroupConnectTier = "cgroup/connect"

    /// The LSM hooks cgroup connect programs can stand in for.
    public static func cgroupConnectForm(lsmHook: String) -> Bool { lsmHook == "socket_connect" }

    /// Connect functions cgroup connect programs can stand in for: nil when none, else whether
    /// the function is only ever called for TCP. `symbol` as `symbol(call:syscall:)` returns it.
    public static func cgroupConnectForm(call symbol: String) -> Bool? {
        switch symbol {
        case "tcp_connect": return true
        case "security_socket_connect", "__sys_connect", "__x64_sys_connect", "__ia32_sys_connect": return false
        default: return nil
        }
    }

    /// The kernel symbol for a kprobes `call`: syscalls get the x86-64 wrapper prefix, as in Tetragon.
    public static func symbol(call: String, syscall: Bool) -> String {
        guard syscall else { return call }
        if call.hasPrefix("__x64_") || call.hasPrefix("__ia32_") { return call }
        if call.hasPrefix("sys_") { return "__x64_" + call }
        return "__x64_sys_" + call
    }

    /// Whether tracefs lists the tracepoint (tracefs is mounted on demand).
    public static func tracepointExists(_ subsystem: String, _ event: String) -> Bool {
        _ = try? KernelFilesystems.ensureMounted(KernelFilesystems.tracefs)
        return readTextFile("/sys/kernel/tracing/events/\(subsystem)/\(event)/id") != nil
    }

    /// The active LSMs, from securityfs.
    public static func activeLSMs() -> [String] {
        _ = try? KernelFilesystems.ensureMounted(KernelFilesystems.securityfs)
        return (readTextFile("/sys/kernel/security/lsm") ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    }
}
