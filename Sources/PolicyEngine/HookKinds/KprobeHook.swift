import AgentCore
import CVigilABI
import KernelFeatures
import PolicyModel

/// `kprobes:` and `fentries:`: a kernel function (a syscall by default), at entry or (return:
/// true) at return. Placed as fentry/fexit where the kernel has trampolines, else
/// kprobe/kretprobe; Override makes it fmod_ret (security_* functions and syscalls); a
/// connect function the kernel cannot host or override runs as cgroup connect programs
/// (ConnectLowering). `call: list:NAME` hooks each function of a `spec.lists` entry.
enum KprobeHook: HookKind {
    static let section = "kprobes"
    static var hooks: KeyPath<PolicySpec, [KProbeSpec]> { \.kprobes }
    static var common: WritableKeyPath<KProbeSpec, HookCommon> { \.common }
    static func describe(_ k: KProbeSpec) -> String { "\(k.isReturn ? "kretprobe" : "kprobe") \(HookPlacement.symbol(call: k.call, syscall: k.syscall))" }

    static func compile(_ k: KProbeSpec, _ c: CompileContext) -> Result<[HookPlan], EngineError> {
        guard k.call.hasPrefix("list:") else { return FunctionHooks.function(k, path: c.path, policy: c.policy, env: c.env, monitor: c.monitor) }
        let name = String(k.call.dropFirst(5))
        guard let list = c.policy.spec.lists.first(where: { $0.name == name }) else {
            return .failure(.unsupported("\(c.path): no spec.lists entry named \(name)"))
        }
        guard list.kind == .syscalls else {
            return .failure(.unsupported("\(c.path): list \(name) is \(list.kind.rawValue); Vigil expands lists of named syscalls, not generated ones yet"))
        }
        var plans: [HookPlan] = []
        for (j, fn) in list.values.enumerated() {
            var one = k
            one.call = fn
            one.syscall = true
            switch FunctionHooks.function(one, path: "\(c.path) (list \(name)[\(j)])", policy: c.policy, env: c.env, monitor: c.monitor) {
            case .success(let ps): plans += ps
            case .failure(let e): return .failure(e)
            }
        }
        return .success(plans)
    }
}

/// `fentries:`: the same as a kprobe (Tetragon places both on trampolines where it can).
enum FentryHook: HookKind {
    static let section = "fentries"
    static var hooks: KeyPath<PolicySpec, [KProbeSpec]> { \.fentries }
    static var common: WritableKeyPath<KProbeSpec, HookCommon> { \.common }
    static func describe(_ k: KProbeSpec) -> String { "fentry \(HookPlacement.symbol(call: k.call, syscall: k.syscall))\(k.isReturn ? " (return)" : "")" }
    static func compile(_ k: KProbeSpec, _ c: CompileContext) -> Result<[HookPlan], EngineError> {
        FunctionHooks.function(k, path: c.path, policy: c.policy, env: c.env, monitor: c.monitor)
    }
}

/// Compiling a kernel function hook (shared by kprobes and fentries).
enum FunctionHooks {
    /// A kprobe/fentry hook, or its cgroup form (`ConnectLowering`) for a connect the kernel
    /// cannot host or cannot Override as a function hook.
    static func function(_ k: KProbeSpec, path: String, policy: TracingPolicy, env: KernelEnvironment, monitor: Bool, family: HookEvent.Family = .kprobe)
        -> Result<[HookPlan], EngineError>
    {
        let symbol = HookPlacement.symbol(call: k.call, syscall: k.syscall)
        if !k.isReturn, let form = ConnectLowering.form(call: k.call, syscall: k.syscall) {
            let native = functionHook(k, path: path, policy: policy, env: env, monitor: monitor)
            guard case .failure(let nativeError) = native else { return native.map { [$0] } }
            let name = "\(path) (kprobe \(symbol))"
            return ConnectLowering.plans(
                form: form, common: k.common, path: path, name: name, family: .kprobe, functionName: symbol,
                policy: policy, env: env, monitor: monitor
            )
            .mapError { ConnectLowering.combine(native: nativeError, lowered: $0) }
        }
        return functionHook(k, path: path, policy: policy, env: env, monitor: monitor).map { [$0] }
    }

    static func functionHook(_ k: KProbeSpec, path: String, policy: TracingPolicy, env: KernelEnvironment, monitor: Bool) -> Result<HookPlan, EngineError> {
        let symbol = HookPlacement.symbol(call: k.call, syscall: k.syscall)
        let name = "\(path) (\(k.isReturn ? "kretprobe" : "kprobe") \(symbol))"
        if !k.data.isEmpty { return .failure(.unsupported("\(path).data: data arguments (read from the current task) are not read by Vigil")) }
        let placement = env.place(.function(symbol: symbol, isReturn: k.isReturn, preferFentry: true))
        guard let tier = placement.tier, tier != HookPlacement.cgroupConnectTier else {
            if k.ignoreCallNotFound {
                let why = "ignore.callNotFound, and no tier here hosts \(symbol): " + placement.skipped.joined(separator: "; ")
                return .failure(.ignored(hook: name, why: why))
            }
            return .failure(.unplaceable(hook: name, tried: placement.skipped))
        }
        var flavour: HookFlavour = tier == "fentry" ? .fentry : tier == "fexit" ? .fexit : tier == "kretprobe" ? .kretprobe : .kprobe
        let wantsOverride = k.common.selectors.contains { $0.matchActions.contains { $0.kind == .override } } && !monitor
        var dropReturn = false
        if wantsOverride {
            let injectable = symbol.hasPrefix("security_") || k.syscall
            let needsReturn = k.common.selectors.contains { !$0.matchReturnArgs.isEmpty }
            if injectable && env.status(.fmodRet).isSupported && !needsReturn {
                // fmod_ret runs before the function: a return probe that overrides reports no return value.
                flavour = .fmodRet
                dropReturn = k.isReturn
            } else {
                let why =
                    !injectable
                    ? "only security_* functions and syscalls can be overridden (fmod_ret)"
                    : needsReturn
                        ? "matchReturnArgs and Override together need bpf_override_return: override_return \(env.status(.overrideReturn))"
                        : "fmod_ret \(env.status(.fmodRet)); override_return \(env.status(.overrideReturn))"
                return .failure(.unplaceable(hook: name, tried: ["Override is not possible here: \(why)"]))
            }
        }
        var config = vigil_hook_config()
        if k.syscall { config.flags |= VIGIL_HOOKF_SYSCALL_REGS }
        var slots: [(arg: HookArg, layout: ArgumentLayout)] = []
        for a in k.common.args {
            switch ArgumentLayout.forFunction(a.type) {
            case .success(let l): slots.append((a, l))
            case .failure(let e): return .failure(.unsupported("\(name): arg index \(a.index): \(e)"))
            }
        }
        if !flavour.readsArguments && !slots.isEmpty {
            return .failure(
                .unplaceable(
                    hook: name,
                    tried: ["a kretprobe cannot read arguments (needs fexit, which this kernel lacks: \(placement.skipped.joined(separator: "; ")))"]))
        }
        var returnArg: (arg: HookArg, layout: ArgumentLayout)?
        var returnSlot: Int?
        let filtersReturn = k.common.selectors.contains { !$0.matchReturnArgs.isEmpty }
        if k.isReturn, let r = k.returnArg, !dropReturn {
            switch ArgumentLayout.forFunction(r.type) {
            case .success(var l) where l.kind == VIGIL_ARG_INT && !filtersReturn:
                l.size = 8
                returnArg = (r, l)
            case .success(let l):
                // A pointer the kernel reads (struct sock *, struct file *): a slot fed by the return value.
                guard slots.count < Int(VIGIL_HOOK_ARGS) else { return .failure(.unsupported("\(name): no argument slot left for the return value")) }
                returnSlot = slots.count
                slots.append((r, l))
            case .failure(let e): return .failure(.unsupported("\(name): returnArg: \(e)"))
            }
        }
        for (i, (a, l)) in slots.enumerated() {
            if i == returnSlot {
                setElement(
                    &config.args, i,
                    vigil_arg_spec(
                        kind: l.kind, source: 0, size: l.size,
                        flags: VIGIL_ARGF_RETURN | (l.signed ? VIGIL_ARGF_SIGNED : 0), size_arg: 0, name_set: 0))
                continue
            }
            guard a.index <= PolicyLimits.maxFunctionArgIndex else {
                return .failure(.unsupported("\(name): arg index \(a.index) is past the 6 register arguments"))
            }
            var spec = vigil_arg_spec(kind: l.kind, source: a.index, size: l.size, flags: l.signed ? VIGIL_ARGF_SIGNED : 0, size_arg: 0, name_set: 0)
            if k.syscall { spec.flags |= VIGIL_ARGF_USER }
            if let s = a.sizeArgIndex, s > 0 { spec.size_arg = s }  // Tetragon's sizeArgIndex is 1-based: slot + 1
            if l.kind == VIGIL_ARG_SOCKADDR_UN { spec.size_arg = SockaddrLength.function(symbol, argument: a) }
            if a.maxData { spec.flags |= VIGIL_ARGF_MAXDATA }
            setElement(&config.args, i, spec)
        }
        config.nargs = UInt32(slots.count)
        return PolicyCompiler.finish(
            config: config, slots: slots, selectors: k.common.selectors, flavour: flavour, monitor: monitor, path: path, name: name, env: env,
            returnSlot: returnSlot, returnArgAction: k.isReturn ? k.returnArgAction : nil
        ) { config, sets in
            var plan = HookPlan(
                policyName: policy.name, hookPath: path, hookName: name, family: .kprobe, flavour: flavour,
                attach: .function(symbol: symbol), functionName: symbol, config: config, sets: sets, slots: slots,
                returnArg: returnArg, message: k.common.message, tags: k.common.tags)
            plan.returnSlot = returnSlot
            return plan
        }
    }

}
