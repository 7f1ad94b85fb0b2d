import KernelFeatures
import PolicyModel

/// What Vigil makes of a policy on a kernel (`vigil policy explain`): the compiler's own
/// result, described. For each hook the programs it becomes (attach point and flavour,
/// lowered forms included) or why it cannot run there, the selectors that run in the kernel,
/// and what each action does as compiled. `vigil policy try` then loads it for real (the
/// verifier may still refuse a program).
public struct PolicyExplanation: Sendable, Codable {
    public struct Program: Sendable, Codable, Equatable {
        /// e.g. `syscalls/sys_exit_openat`, `file_open`, `cgroup v2 root`.
        public let attach: String
        /// e.g. `tracepoint`, `lsm`, `fentry`, `tracepoint/syscalls/sys_exit`.
        public let flavour: String
        /// Why this program is part of the hook (the hook itself, a lowered form).
        public let role: String
    }

    public struct Hook: Sendable, Codable {
        /// e.g. `spec.lsmhooks[0]`.
        public let path: String
        /// e.g. `lsm file_open`, `kprobe fd_install`.
        public let hook: String
        /// The programs it runs as here; empty when it cannot run.
        public let programs: [Program]
        /// Why it cannot run here (each tier tried), when it cannot.
        public let refused: String?
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
    /// Refusals of the policy as a whole (its scope, unsupported sections).
    public let policyRefusals: [String]

    /// Every hook runs here with every action possible.
    public var isFullyHostable: Bool {
        policyRefusals.isEmpty && hooks.allSatisfy { $0.refused == nil && $0.selectors.allSatisfy { $0.actions.allSatisfy(\.possible) } }
    }

    /// Explains `policy` on `environment` (the running kernel by default: probing needs root;
    /// without it every feature reads as unknown and nothing is placed).
    public static func explain(_ policy: TracingPolicy, environment env: KernelEnvironment = .running, kernel: String = KernelFeatures.runningKernelRelease)
        -> PolicyExplanation
    {
        let monitor = policy.spec.mode == .monitor
        var hooks: [Hook] = []
        let commons = Dictionary(HookRegistry.commons(policy.spec), uniquingKeysWith: { a, _ in a })
        for h in HookRegistry.compileAll(policy, env: env) {
            let common = commons[h.path] ?? HookCommon()
            var programs: [Program] = []
            var refused: String?
            var flavour: HookFlavour?
            switch h.result {
            case .success(let plans):
                flavour = plans.first?.flavour
                for (i, p) in plans.enumerated() { programs.append(Program(attach: "\(p.attach)", flavour: p.flavour.rawValue, role: role(p, index: i))) }
            case .failure(let e):
                refused = e.description
            }
            let args = common.args.map { a in "arg index \(a.index): \(a.type.rawValue)" + (a.label.map { " (\($0))" } ?? "") }
            let selectors = (common.selectors.isEmpty ? [Selector()] : common.selectors).map { sel in
                SelectorText(
                    filters: sel.filterDescriptions.isEmpty ? ["(matches every call)"] : sel.filterDescriptions,
                    actions: sel.effectiveActions.map { effect(of: $0, flavour: flavour, monitor: monitor, status: env.status) })
            }
            hooks.append(Hook(path: h.path, hook: h.hook, programs: programs, refused: refused, args: args, selectors: selectors))
        }
        var whole: [String] = PolicyScope.refusals(policy).map(\.description)
        if policy.spec.loader { whole.append("spec.loader: loader events are not implemented by Vigil") }
        if !policy.spec.enforcers.isEmpty { whole.append("spec.enforcers: not implemented by Vigil (its hooks enforce themselves)") }
        return PolicyExplanation(
            policy: policy.name, file: policy.location.file, mode: policy.spec.mode.rawValue, kernel: kernel, hooks: hooks, policyRefusals: whole)
    }

    static func role(_ p: HookPlan, index: Int) -> String {
        if p.config.flags & 0x10 != 0 { return "exec lowering: the script an interpreter opens" }  // VIGIL_HOOKF_SCRIPT_OPEN
        if p.hookName.contains("exec lowering") || (index > 0 && p.event == "sched_process_exec") { return "exec lowering: executable mappings" }
        if p.flavour == .syscallExit { return "judged at the syscall's exit, on the opened file" }
        if p.flavour == .ioUringComplete { return "io_uring form: files io_uring requests open, judged at their completion" }
        if p.flavour == .ioUringSubmit { return "io_uring form: the names of io_uring requests, resolved when submitted" }
        if p.flavour.isCgroup { return "cgroup form (the kernel cannot host or override the hook)" }
        return "the hook"
    }

    static func effect(of action: Action, flavour: HookFlavour?, monitor: Bool, status: (KernelFeature) -> FeatureStatus) -> ActionText {
        let name = action.description
        if action.kind.enforces && monitor { return ActionText(action: name, effect: "monitor mode: reported, not enforced", possible: true) }
        guard let flavour else { return ActionText(action: name, effect: "the hook cannot run here", possible: false) }
        switch action.kind {
        case .post: return ActionText(action: name, effect: "an event leaves the kernel only on a match", possible: true)
        case .noPost: return ActionText(action: name, effect: "no event", possible: true)
        case .sigkill, .signal:
            if flavour.isCgroup { return ActionText(action: name, effect: "sent at the connect syscall's exit, before it returns", possible: true) }
            let s = status(.sendSignal)
            return ActionText(
                action: name,
                effect: s.isSupported ? "bpf_send_signal from the hook, before the caller returns to user space" : "not possible here: send_signal \(s)",
                possible: s.isSupported)
        case .override:
            switch flavour {
            case .lsm: return ActionText(action: name, effect: "the LSM program returns the error: the operation is refused", possible: true)
            case .fmodRet: return ActionText(action: name, effect: "fmod_ret returns the error before the function runs", possible: true)
            case .cgroupConnect4, .cgroupConnect6:
                return ActionText(action: name, effect: "the cgroup program refuses the connect (the caller gets argError)", possible: true)
            default: return ActionText(action: name, effect: "not possible on a \(flavour.rawValue) hook", possible: false)
            }
        case .getURL, .dnsLookup: return ActionText(action: name, effect: "carried out by the agent for the posted event", possible: true)
        case .trackSock, .untrackSock: return ActionText(action: name, effect: "the socket's owner recorded in or removed from tracked_socks", possible: true)
        case .followFD, .unfollowFD, .copyFD, .notifyEnforcer, .cleanupEnforcerNotification, .set:
            return ActionText(action: name, effect: action.kind.notRunBecause ?? "not run by Vigil", possible: false)
        }
    }

    /// Text for people.
    public var text: String {
        var out = "policy \(policy) (\(file)), mode \(mode), kernel \(kernel)\n"
        out += "  (what the compiler makes of it here; `vigil policy try` loads it to confirm; docs/policy-engine.md)\n"
        for r in policyRefusals { out += "  REFUSED: \(r)\n" }
        for h in hooks {
            out += "  \(h.path): \(h.hook)\n"
            if let why = h.refused {
                out += "    CANNOT RUN here: \(why)\n"
            }
            for p in h.programs { out += "    runs as \(p.flavour) on \(p.attach): \(p.role)\n" }
            for a in h.args { out += "    \(a)\n" }
            for (i, s) in h.selectors.enumerated() {
                out += "    selector \(i) (in the kernel): \(s.filters.joined(separator: " AND "))\n"
                for a in s.actions { out += "      -> \(a.action): \(a.effect)\n" }
            }
        }
        return out
    }
}
