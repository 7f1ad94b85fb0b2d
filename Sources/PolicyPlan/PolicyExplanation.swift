import KernelFeatures
import PolicyModel

/// What Vigil would do with a policy on the running kernel: for each hook its placement,
/// the selectors that run in the kernel, and whether each action can take effect here.
public struct PolicyExplanation: Sendable, Codable {
    public struct Hook: Sendable, Codable {
        /// e.g. `spec.lsmhooks[0]`.
        public let path: String
        /// e.g. `lsm file_open`, `kprobe fd_install`.
        public let hook: String
        public let placement: Placement
        /// How each declared argument is read here (tracepoints: the format field it names).
        public let args: [String]
        public let selectors: [SelectorText]
    }

    public struct SelectorText: Sendable, Codable {
        public let filters: [String]
        public let actions: [ActionText]
    }

    public struct ActionText: Sendable, Codable {
        public let action: String
        /// How the action takes effect here, or why it cannot.
        public let effect: String
        public let possible: Bool
    }

    public let policy: String
    public let file: String
    public let mode: String
    public let kernel: String
    public let hooks: [Hook]

    /// Every hook of `policy` can be placed and every action can take effect.
    public var isFullyHostable: Bool { hooks.allSatisfy { $0.placement.tier != nil && $0.selectors.allSatisfy { $0.actions.allSatisfy(\.possible) } } }

    /// Explains `policy` against the running kernel (probes need root; without root every
    /// feature reads as unknown and nothing is placed).
    public static func explain(_ policy: TracingPolicy, status: @escaping (KernelFeature) -> FeatureStatus = FeatureProbe.shared.status) -> PolicyExplanation {
        let spec = policy.spec
        var hooks: [Hook] = []
        func add(_ path: String, _ name: String, _ target: HookTarget, _ common: HookCommon, overrideVia: () -> (String, Bool)) {
            var placement = HookPlacement.place(target, status: status)
            var args = common.args.map { "arg index \($0.index): \($0.type.rawValue)" }
            if case .tracepoint(let sub, let event, false, _) = target, placement.tier != nil, let format = TracepointFormat.load(subsystem: sub, event: event) {
                // Tracepoint arg indexes are positions in the format's field list (common fields included).
                var problems: [String] = []
                args = common.args.map { arg in
                    guard Int(arg.index) < format.fields.count else {
                        problems.append("arg index \(arg.index) is past the tracepoint's \(format.fields.count) fields")
                        return "arg index \(arg.index): no such field"
                    }
                    let f = format.fields[Int(arg.index)]
                    return "arg index \(arg.index): field \(f.name) (\(f.declaration), offset \(f.offset), size \(f.size)) read as \(arg.type.rawValue)"
                }
                if !problems.isEmpty {
                    placement = Placement(tier: nil, attachPoint: nil, skipped: placement.skipped + ["tracepoint: " + problems.joined(separator: "; ")])
                }
            }
            let selectors = (common.selectors.isEmpty ? [Selector()] : common.selectors).map { sel in
                SelectorText(filters: sel.filterDescriptions.isEmpty ? ["(matches every call)"] : sel.filterDescriptions,
                             actions: sel.effectiveActions.map { effect(of: $0, mode: spec.mode, status: status, overrideVia: overrideVia) })
            }
            hooks.append(Hook(path: path, hook: name, placement: placement, args: args, selectors: selectors))
        }
        for (i, k) in spec.kprobes.enumerated() + spec.fentries.enumerated().map({ ($0 + spec.kprobes.count, $1) }) {
            let isFentry = i >= spec.kprobes.count
            let path = isFentry ? "spec.fentries[\(i - spec.kprobes.count)]" : "spec.kprobes[\(i)]"
            let symbol = HookPlacement.symbol(call: k.call, syscall: k.syscall)
            let placement = HookPlacement.place(.function(symbol: symbol, isReturn: k.isReturn, preferFentry: true), status: status)
            add(path, "\(isFentry ? "fentry" : "kprobe") \(symbol)\(k.isReturn ? " (return)" : "")",
                .function(symbol: symbol, isReturn: k.isReturn, preferFentry: true), k.common) {
                overrideForFunction(symbol, syscall: k.syscall, placedOn: placement.tier, status: status)
            }
        }
        for (i, t) in spec.tracepoints.enumerated() {
            add("spec.tracepoints[\(i)]", "\(t.raw ? "raw tracepoint" : "tracepoint") \(t.subsystem)/\(t.event)",
                .tracepoint(subsystem: t.subsystem, event: t.event, raw: t.raw, readsFields: !t.common.args.isEmpty), t.common) { ("a tracepoint cannot override", false) }
        }
        for (i, l) in spec.lsmHooks.enumerated() {
            let placement = HookPlacement.place(.lsm(hook: l.hook), status: status)
            add("spec.lsmhooks[\(i)]", "lsm \(l.hook)", .lsm(hook: l.hook), l.common) {
                placement.tier == "lsm" ? ("the LSM program returns the error", true)
                    : placement.tier == HookPlacement.cgroupConnectTier ? ("the cgroup connect program denies the connect (the caller gets argError, EPERM by default)", true)
                    : ("needs the hook placed as BPF-LSM", false)
            }
        }
        for (i, u) in spec.uprobes.enumerated() {
            add("spec.uprobes[\(i)]", "uprobe \(u.path)", .uprobe(path: u.path), u.common) { ("uprobes cannot override", false) }
        }
        for (i, u) in spec.usdts.enumerated() {
            add("spec.usdts[\(i)]", "usdt \(u.provider):\(u.name)", .usdt(path: u.path), u.common) { ("usdts cannot override", false) }
        }
        return PolicyExplanation(policy: policy.name, file: policy.location.file, mode: spec.mode.rawValue,
                                 kernel: BPFKitKernel.release, hooks: hooks)
    }

    static func overrideForFunction(_ symbol: String, syscall: Bool, placedOn tier: String?, status: (KernelFeature) -> FeatureStatus) -> (String, Bool) {
        if symbol.hasPrefix("security_") && status(.fmodRet).isSupported { return ("fmod_ret/\(symbol) returns the error", true) }
        if status(.overrideReturn).isSupported && tier == "kprobe" { return ("bpf_override_return (error-injectable functions only)", true) }
        var why: [String] = []
        if symbol.hasPrefix("security_") { why.append("fmod_ret \(status(.fmodRet))") } else { why.append("fmod_ret only on security_* functions") }
        why.append("override_return \(status(.overrideReturn))")
        return ("not possible here: " + why.joined(separator: "; "), false)
    }

    static func effect(of action: Action, mode: PolicyMode, status: (KernelFeature) -> FeatureStatus, overrideVia: () -> (String, Bool)) -> ActionText {
        if action.kind.enforces && mode == .monitor {
            return ActionText(action: action.description, effect: "monitor mode: reported, not enforced", possible: true)
        }
        switch action.kind {
        case .sigkill, .signal:
            let s = status(.sendSignal)
            return ActionText(action: action.description, effect: s.isSupported ? "bpf_send_signal from the hook" : "not possible here: send_signal \(s)", possible: s.isSupported)
        case .override:
            let (how, ok) = overrideVia()
            return ActionText(action: action.description, effect: how, possible: ok)
        case .post:
            return ActionText(action: action.description, effect: "event leaves the kernel only on match", possible: true)
        case .noPost:
            return ActionText(action: action.description, effect: "no event", possible: true)
        default:
            return ActionText(action: action.description, effect: "not implemented by Vigil yet", possible: false)
        }
    }

    /// Text for people.
    public var text: String {
        var out = "policy \(policy) (\(file)), mode \(mode), kernel \(kernel)\n"
        out += "  (the placement plan; `vigil policy try` loads the policy to confirm; see docs/policy-engine.md)\n"
        for h in hooks {
            out += "  \(h.path): \(h.hook)\n"
            if let tier = h.placement.tier {
                out += "    attaches as \(tier): \(h.placement.attachPoint ?? "")\n"
            } else {
                out += "    CANNOT ATTACH on this kernel\n"
            }
            for s in h.placement.skipped { out += "      not \(s)\n" }
            for a in h.args { out += "    \(a)\n" }
            for (i, s) in h.selectors.enumerated() {
                out += "    selector \(i) (to run in the kernel): \(s.filters.joined(separator: " AND "))\n"
                for a in s.actions { out += "      -> \(a.action): \(a.effect)\n" }
            }
        }
        return out
    }
}

/// The running kernel's release, for reports.
enum BPFKitKernel {
    static var release: String { KernelFeatures.runningKernelRelease }
}
