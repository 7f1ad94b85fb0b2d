import AgentCore
import CVigilABI
import KernelFeatures
import PolicyModel

/// `lsmhooks:`: a BPF-LSM hook (`file_open`, `bprm_check_security`, ...), whose program's
/// return value denies (Override). `socket_connect` also has a cgroup form (ConnectLowering).
enum LSMHook: HookKind {
    static let section = "lsmhooks"
    static var hooks: KeyPath<PolicySpec, [LSMHookSpec]> { \.lsmHooks }
    static var common: WritableKeyPath<LSMHookSpec, HookCommon> { \.common }
    static func describe(_ l: LSMHookSpec) -> String { "lsm \(l.hook)" }
    static func compile(_ l: LSMHookSpec, _ c: CompileContext) -> Result<[HookPlan], EngineError> {
        lsm(l, path: c.path, policy: c.policy, env: c.env, monitor: c.monitor).flatMap { plans in
            // an exec check also judges scripts and executable mappings of the files it names
            guard ["bprm_check_security", "bprm_creds_for_exec", "bprm_creds_from_file"].contains(l.hook),
                let binprm = l.common.args.first(where: { $0.type == .linuxBinprm || $0.type == .file })
            else { return .success(plans) }
            let filter: (Selector) -> (op: ArgOperator, values: [String])? = { s in
                guard s.matchArgs.count == 1, let f = s.matchArgs.first, f.index == binprm.index, [.equal, .prefix, .postfix].contains(f.op) else { return nil }
                return (f.op, f.values)
            }
            return ExecLowering.plans(
                source: l.common.selectors, fileFilter: filter, family: .lsm, functionName: l.hook, subsystem: "", event: "",
                message: l.common.message, tags: l.common.tags, path: c.path, policy: c.policy, env: c.env, monitor: c.monitor
            )
            .map { plans + $0 }
        }
    }

    static func lsm(_ l: LSMHookSpec, path: String, policy: TracingPolicy, env: KernelEnvironment, monitor: Bool) -> Result<[HookPlan], EngineError> {
        let name = "\(path) (lsm \(l.hook))"
        let placement = env.place(.lsm(hook: l.hook))
        guard let tier = placement.tier, tier != HookPlacement.cgroupConnectTier else {
            // socket_connect without BPF-LSM: its cgroup form (ConnectLowering)
            if let form = ConnectLowering.form(lsmHook: l.hook) {
                return ConnectLowering.plans(
                    form: form, common: l.common, path: path, name: name, family: .lsm, functionName: l.hook,
                    policy: policy, env: env, monitor: monitor
                )
                .mapError { ConnectLowering.combine(native: .unplaceable(hook: name, tried: placement.skipped), lowered: $0) }
            }
            return .failure(.unplaceable(hook: name, tried: placement.skipped))
        }
        var config = vigil_hook_config()
        var slots: [(arg: HookArg, layout: ArgumentLayout)] = []
        for (i, a) in l.common.args.enumerated() {
            switch ArgumentLayout.forFunction(a.type) {
            case .success(let lay):
                slots.append((a, lay))
                setElement(
                    &config.args, i,
                    vigil_arg_spec(
                        kind: lay.kind, source: a.index, size: lay.size, flags: lay.signed ? VIGIL_ARGF_SIGNED : 0,
                        size_arg: lay.kind == VIGIL_ARG_SOCKADDR_UN ? SockaddrLength.function(l.hook, argument: a) : a.sizeArgIndex ?? 0, name_set: 0))
            case .failure(let e): return .failure(.unsupported("\(name): arg index \(a.index): \(e)"))
            }
        }
        config.nargs = UInt32(slots.count)
        return PolicyCompiler.finish(
            config: config, slots: slots, selectors: l.common.selectors, flavour: .lsm, monitor: monitor, path: path, name: name, env: env
        ) { config, sets in
            HookPlan(
                policyName: policy.name, hookPath: path, hookName: name, family: .lsm, flavour: .lsm, attach: .lsm(hook: l.hook),
                functionName: l.hook, config: config, sets: sets, slots: slots, returnArg: nil,
                message: l.common.message, tags: l.common.tags)
        }.map { [$0] }
    }

}
