import AgentCore
import CVigilABI
import KernelFeatures
import PolicyModel

/// `uprobes:`: user-space functions of a binary or library, by symbol or file offset.
enum UprobeHook: HookKind {
    static let section = "uprobes"
    static var hooks: KeyPath<PolicySpec, [UProbeSpec]> { \.uprobes }
    static var common: WritableKeyPath<UProbeSpec, HookCommon> { \.common }
    static func describe(_ u: UProbeSpec) -> String { "uprobe \(u.path)" }
    static func compile(_ u: UProbeSpec, _ c: CompileContext) -> Result<[HookPlan], EngineError> {
        uprobe(u, path: c.path, policy: c.policy, env: c.env, monitor: c.monitor)
    }

    /// A user-space function hook: one plan per symbol and per offset (a file offset into
    /// `u.path`, for stripped binaries), each a uprobe for every process that maps the file.
    /// Arguments are registers of the probed function; pointers are read from the process's
    /// memory, so only values a user-space function passes are accepted (integers, strings,
    /// char buffers).
    static func uprobe(_ u: UProbeSpec, path: String, policy: TracingPolicy, env: KernelEnvironment, monitor: Bool) -> Result<[HookPlan], EngineError> {
        let hook = "\(path) (uprobe \(u.path))"
        guard u.addrs.isEmpty, u.refCtrOffsets.isEmpty else {
            return .failure(
                .unsupported("\(hook): refCtrOffsets and addrs are not attached by Vigil yet; name the functions in symbols or their file offsets in offsets"))
        }
        let binary = hostPath(u.path)
        let placement = env.place(.uprobe(path: binary))
        guard placement.tier != nil else { return .failure(.unplaceable(hook: hook, tried: placement.skipped)) }
        var config = vigil_hook_config()
        var slots: [(arg: HookArg, layout: ArgumentLayout)] = []
        for (i, a) in u.common.args.enumerated() {
            guard a.index <= PolicyLimits.maxFunctionArgIndex else {
                return .failure(.unsupported("\(hook): arg index \(a.index) is past the 6 register arguments"))
            }
            switch ArgumentLayout.forFunction(a.type) {
            case .success(let l) where [VIGIL_ARG_INT, VIGIL_ARG_STRING, VIGIL_ARG_BUFFER].contains(l.kind):
                slots.append((a, l))
                var spec = vigil_arg_spec(
                    kind: l.kind, source: a.index, size: l.size, flags: VIGIL_ARGF_USER | (l.signed ? VIGIL_ARGF_SIGNED : 0), size_arg: 0, name_set: 0)
                if let s = a.sizeArgIndex, s > 0 { spec.size_arg = s }
                if a.maxData { spec.flags |= VIGIL_ARGF_MAXDATA }
                setElement(&config.args, i, spec)
            case .success:
                return .failure(
                    .unsupported(
                        "\(hook): arg index \(a.index): a uprobe reads user-space values (integers, string, char_buf), not kernel objects (\(a.type.rawValue))")
                )
            case .failure(let e): return .failure(.unsupported("\(hook): arg index \(a.index): \(e)"))
            }
        }
        config.nargs = UInt32(slots.count)
        let targets = u.symbols.map { (symbol: Optional($0), offset: UInt64(0)) } + u.offsets.map { (symbol: String?.none, offset: $0) }
        var plans: [HookPlan] = []
        for (symbol, offset) in targets {
            let attach = AttachPoint.uprobe(binary: binary, symbol: symbol, offset: offset)
            let name = "\(path) (uprobe \(attach))"
            let plan = PolicyCompiler.finish(
                config: config, slots: slots, selectors: u.common.selectors, flavour: .uprobe, monitor: monitor, path: path, name: name, env: env
            ) { config, sets in
                var p = HookPlan(
                    policyName: policy.name, hookPath: path, hookName: name, family: .uprobe, flavour: .uprobe,
                    attach: attach, functionName: symbol ?? "", config: config, sets: sets,
                    slots: slots, returnArg: nil, message: u.common.message, tags: u.common.tags)
                p.path = u.path
                p.offset = symbol == nil ? offset : nil
                return p
            }
            switch plan {
            case .success(let p): plans.append(p)
            case .failure(let e): return .failure(e)
            }
        }
        return .success(plans)
    }

    /// Tetragon runs in a container with the host's procfs at `/procRoot` (its policies say
    /// `/procRoot/1/root/usr/bin/bash` for the host's bash); Vigil runs on the host, where that
    /// is `/proc`. Other paths are the node's own.
    static func hostPath(_ path: String) -> String {
        path.hasPrefix("/procRoot/") ? "/proc/" + path.dropFirst("/procRoot/".count) : path
    }

}
