import CVigilABI
import Foundation
import KernelFeatures
import PolicyModel

/// What the compiler needs to know about the running kernel; tests pass a fixed one.
public struct KernelEnvironment: Sendable {
    public var place: @Sendable (HookTarget) -> Placement
    public var status: @Sendable (KernelFeature) -> FeatureStatus
    public var tracepointFormat: @Sendable (String, String) -> TracepointFormat?
    public var hostNamespace: @Sendable (NamespaceKind) -> UInt32?

    public init(place: @escaping @Sendable (HookTarget) -> Placement, status: @escaping @Sendable (KernelFeature) -> FeatureStatus,
                tracepointFormat: @escaping @Sendable (String, String) -> TracepointFormat?, hostNamespace: @escaping @Sendable (NamespaceKind) -> UInt32?) {
        self.place = place
        self.status = status
        self.tracepointFormat = tracepointFormat
        self.hostNamespace = hostNamespace
    }

    /// The running kernel (feature probes are cached by `FeatureProbe.shared`).
    public static var running: KernelEnvironment {
        KernelEnvironment(place: { HookPlacement.place($0) }, status: { FeatureProbe.shared.status($0) },
                          tracepointFormat: { TracepointFormat.load(subsystem: $0, event: $1) },
                          hostNamespace: { kind in
                              let names: [NamespaceKind: String] = [.uts: "uts", .ipc: "ipc", .mnt: "mnt", .pid: "pid", .pidForChildren: "pid_for_children",
                                                                    .net: "net", .time: "time", .timeForChildren: "time_for_children", .cgroup: "cgroup", .user: "user"]
                              guard let n = names[kind], let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/1/ns/\(n)"),
                                    let open = link.firstIndex(of: "["), let close = link.firstIndex(of: "]") else { return nil }
                              return UInt32(link[link.index(after: open)..<close])
                          })
    }
}

/// A policy compiled for a kernel: its hooks' plans, and (only with `allow-partial-load`)
/// the hooks left out with their reasons.
public struct CompiledPolicy: @unchecked Sendable {
    public var plans: [HookPlan]
    public var skipped: [EngineError]
}

/// Compiles a validated TracingPolicy into one `HookPlan` per hook for a kernel. All or
/// nothing: any hook that cannot run makes the whole policy fail, with every reason, unless
/// the policy opts in to `allow-partial-load` (then at least one hook must remain).
public enum PolicyCompiler {
    public static func compile(_ policy: TracingPolicy, firstHookID: UInt32, environment env: KernelEnvironment = .running) -> Result<CompiledPolicy, PolicyLoadError> {
        var plans: [HookPlan] = []
        var errors: [EngineError] = []
        let spec = policy.spec
        let monitor = spec.mode == .monitor
        var nextID = firstHookID

        func add(_ r: Result<[HookPlan], EngineError>) {
            switch r {
            case .success(let ps):
                for var p in ps {
                    p.config.hook_id = nextID
                    nextID += 1
                    plans.append(p)
                }
            case .failure(let e): errors.append(e)
            }
        }
        func add(_ r: Result<HookPlan, EngineError>) { add(r.map { [$0] }) }
        /// The hook with its matchArgs' `list:NAME` values replaced by syscall numbers.
        func listsExpanded<H>(_ hook: H, _ path: String, _ common: WritableKeyPath<H, HookCommon>) -> Result<H, EngineError> {
            guard hook[keyPath: common].selectors.contains(where: { s in (s.matchArgs + s.matchReturnArgs).contains { $0.values.contains { $0.hasPrefix("list:") } } }) else {
                return .success(hook)
            }
            return SyscallListValues.expand(hook[keyPath: common].selectors, lists: spec.lists, path: path).map { selectors in
                var h = hook
                h[keyPath: common].selectors = selectors
                return h
            }
        }
        if !spec.usdts.isEmpty { errors.append(.unsupported("spec.usdts: Vigil does not attach USDT probes yet")) }
        if spec.loader { errors.append(.unsupported("spec.loader: loader (mapped ELF) events are not implemented by Vigil")) }
        if !spec.enforcers.isEmpty { errors.append(.unsupported("spec.enforcers: Vigil's engine enforces from the hooks themselves (Sigkill/Override); enforcers are not implemented")) }
        for (i, written) in spec.kprobes.enumerated() {
            let k: KProbeSpec
            switch listsExpanded(written, "spec.kprobes[\(i)]", \.common) {
            case .success(let e): k = e
            case .failure(let e): errors.append(e); continue
            }
            // `call: list:NAME` hooks every function of a `spec.lists` entry, one hook each.
            guard k.call.hasPrefix("list:") else {
                add(function(k, path: "spec.kprobes[\(i)]", policy: policy, env: env, monitor: monitor))
                continue
            }
            let name = String(k.call.dropFirst(5))
            guard let list = spec.lists.first(where: { $0.name == name }) else {
                errors.append(.unsupported("spec.kprobes[\(i)]: no spec.lists entry named \(name)"))
                continue
            }
            guard list.kind == .syscalls else {
                errors.append(.unsupported("spec.kprobes[\(i)]: list \(name) is \(list.kind.rawValue); Vigil expands lists of named syscalls, not generated ones yet"))
                continue
            }
            for (j, fn) in list.values.enumerated() {
                var one = k
                one.call = fn
                one.syscall = true
                add(function(one, path: "spec.kprobes[\(i)] (list \(name)[\(j)])", policy: policy, env: env, monitor: monitor))
            }
        }
        /// Each hook of one spec section, its `list:` values expanded, through that kind's compile step.
        func addEach<H>(_ hooks: [H], _ section: String, _ common: WritableKeyPath<H, HookCommon>,
                        _ compile: (H, String) -> Result<[HookPlan], EngineError>) {
            for (i, hook) in hooks.enumerated() {
                let path = "spec.\(section)[\(i)]"
                add(listsExpanded(hook, path, common).flatMap { compile($0, path) })
            }
        }
        addEach(spec.fentries, "fentries", \.common) { function($0, path: $1, policy: policy, env: env, monitor: monitor) }
        addEach(spec.tracepoints, "tracepoints", \.common) { tracepoint($0, path: $1, policy: policy, env: env, monitor: monitor).map { [$0] } }
        addEach(spec.lsmHooks, "lsmhooks", \.common) { lsm($0, path: $1, policy: policy, env: env, monitor: monitor) }
        addEach(spec.uprobes, "uprobes", \.common) { uprobe($0, path: $1, policy: policy, env: env, monitor: monitor) }
        if !errors.isEmpty && !(spec.allowsPartialLoad && !plans.isEmpty) {
            return .failure(PolicyLoadError(policy: policy.name, file: policy.location.file, reasons: errors))
        }
        return .success(CompiledPolicy(plans: plans, skipped: errors))
    }

    /// A kprobe/fentry hook, or its cgroup form (`ConnectLowering`) for a connect the kernel
    /// cannot host or cannot Override as a function hook.
    static func function(_ k: KProbeSpec, path: String, policy: TracingPolicy, env: KernelEnvironment, monitor: Bool) -> Result<[HookPlan], EngineError> {
        let symbol = HookPlacement.symbol(call: k.call, syscall: k.syscall)
        if !k.isReturn, let form = ConnectLowering.form(call: k.call, syscall: k.syscall) {
            let native = functionHook(k, path: path, policy: policy, env: env, monitor: monitor)
            guard case .failure(let nativeError) = native else { return native.map { [$0] } }
            let name = "\(path) (kprobe \(symbol))"
            return ConnectLowering.plans(form: form, common: k.common, path: path, name: name, family: .kprobe, functionName: symbol,
                                         policy: policy, env: env, monitor: monitor)
                .mapError { ConnectLowering.combine(native: nativeError, lowered: $0) }
        }
        return functionHook(k, path: path, policy: policy, env: env, monitor: monitor).map { [$0] }
    }

    static func functionHook(_ k: KProbeSpec, path: String, policy: TracingPolicy, env: KernelEnvironment, monitor: Bool) -> Result<HookPlan, EngineError> {
        let symbol = HookPlacement.symbol(call: k.call, syscall: k.syscall)
        let name = "\(path) (\(k.isReturn ? "kretprobe" : "kprobe") \(symbol))"
        let placement = env.place(.function(symbol: symbol, isReturn: k.isReturn, preferFentry: true))
        guard let tier = placement.tier, tier != HookPlacement.cgroupConnectTier else {
            if k.ignoreCallNotFound { return .failure(.unsupported("\(name): function not hostable and ignoreCallNotFound set; skipped")) }
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
                let why = !injectable ? "only security_* functions and syscalls can be overridden (fmod_ret)"
                    : needsReturn ? "matchReturnArgs and Override together need bpf_override_return: override_return \(env.status(.overrideReturn))"
                    : "fmod_ret \(env.status(.fmodRet)); override_return \(env.status(.overrideReturn))"
                return .failure(.unsupported("\(name): Override is not possible here: \(why)"))
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
            return .failure(.unsupported("\(name): a kretprobe cannot read arguments (needs fexit, which this kernel lacks: \(placement.skipped.joined(separator: "; ")))"))
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
                setElement(&config.args, i, vigil_arg_spec(kind: l.kind, source: 0, size: l.size,
                                                           flags: VIGIL_ARGF_RETURN | (l.signed ? VIGIL_ARGF_SIGNED : 0), size_arg: 0, pad: 0))
                continue
            }
            guard a.index <= PolicyLimits.maxFunctionArgIndex else { return .failure(.unsupported("\(name): arg index \(a.index) is past the 6 register arguments")) }
            var spec = vigil_arg_spec(kind: l.kind, source: a.index, size: l.size, flags: l.signed ? VIGIL_ARGF_SIGNED : 0, size_arg: 0, pad: 0)
            if k.syscall { spec.flags |= VIGIL_ARGF_USER }
            if let s = a.sizeArgIndex, s > 0 { spec.size_arg = s } // Tetragon's sizeArgIndex is 1-based: slot + 1
            if a.maxData { spec.flags |= VIGIL_ARGF_MAXDATA }
            setElement(&config.args, i, spec)
        }
        config.nargs = UInt32(slots.count)
        return finish(config: config, slots: slots, selectors: k.common.selectors, flavour: flavour, monitor: monitor, path: path, name: name, env: env,
                      returnSlot: returnSlot, returnArgAction: k.isReturn ? k.returnArgAction : nil) { config, sets in
            var plan = HookPlan(policyName: policy.name, hookPath: path, hookName: name, family: .kprobe, flavour: flavour,
                                attach: .function(symbol: symbol), functionName: symbol, config: config, sets: sets, slots: slots,
                                returnArg: returnArg, message: k.common.message, tags: k.common.tags)
            plan.returnSlot = returnSlot
            return plan
        }
    }

    static func tracepoint(_ t: TracepointSpec, path: String, policy: TracingPolicy, env: KernelEnvironment, monitor: Bool) -> Result<HookPlan, EngineError> {
        let name = "\(path) (\(t.raw ? "raw_tp" : "tracepoint") \(t.subsystem)/\(t.event))"
        let placement = env.place(.tracepoint(subsystem: t.subsystem, event: t.event, raw: t.raw, readsFields: !t.common.args.isEmpty))
        guard placement.tier != nil else { return .failure(.unplaceable(hook: name, tried: placement.skipped)) }
        var config = vigil_hook_config()
        var slots: [(arg: HookArg, layout: ArgumentLayout)] = []
        if t.raw {
            for (i, a) in t.common.args.enumerated() {
                switch ArgumentLayout.forFunction(a.type) {
                case .success(let l):
                    slots.append((a, l))
                    setElement(&config.args, i, vigil_arg_spec(kind: l.kind, source: a.index, size: l.size, flags: l.signed ? VIGIL_ARGF_SIGNED : 0, size_arg: 0, pad: 0))
                case .failure(let e): return .failure(.unsupported("\(name): arg index \(a.index): \(e)"))
                }
            }
        } else {
            guard let format = env.tracepointFormat(t.subsystem, t.event) else {
                return .failure(.unplaceable(hook: name, tried: ["tracepoint: no format for \(t.subsystem)/\(t.event) in tracefs"]))
            }
            let user = t.subsystem == "syscalls" || t.subsystem == "raw_syscalls"
            for (i, a) in t.common.args.enumerated() {
                guard Int(a.index) < format.fields.count else {
                    return .failure(.unsupported("\(name): arg index \(a.index) is past the tracepoint's \(format.fields.count) fields"))
                }
                let field = format.fields[Int(a.index)]
                switch ArgumentLayout.forTracepoint(a.type, field: field) {
                case .success(let l):
                    slots.append((a, l))
                    var flags: UInt32 = l.signed ? VIGIL_ARGF_SIGNED : 0
                    if user { flags |= VIGIL_ARGF_USER }
                    let size = l.kind == VIGIL_ARG_INLINE ? UInt32(field.size) : l.kind == VIGIL_ARG_INT || l.kind == VIGIL_ARG_FD ? min(l.size, UInt32(field.size)) : 8
                    setElement(&config.args, i, vigil_arg_spec(kind: l.kind, source: UInt32(field.offset), size: size, flags: flags, size_arg: 0, pad: 0))
                case .failure(let e): return .failure(.unsupported("\(name): arg index \(a.index): \(e)"))
                }
            }
        }
        config.nargs = UInt32(slots.count)
        let flavour: HookFlavour = t.raw ? .rawTracepoint : placement.tier == "tp_btf" ? .execBTF : .tracepoint
        return finish(config: config, slots: slots, selectors: t.common.selectors, flavour: flavour, monitor: monitor, path: path, name: name, env: env, byPosition: true) { config, sets in
            var p = HookPlan(policyName: policy.name, hookPath: path, hookName: name, family: .tracepoint, flavour: flavour,
                             attach: t.raw ? .rawTracepoint(event: t.event) : .tracepoint(subsystem: t.subsystem, event: t.event),
                             functionName: "", config: config, sets: sets, slots: slots, returnArg: nil,
                             message: t.common.message, tags: t.common.tags)
            p.subsystem = t.subsystem
            p.event = t.event
            return p
        }
    }

    static func lsm(_ l: LSMHookSpec, path: String, policy: TracingPolicy, env: KernelEnvironment, monitor: Bool) -> Result<[HookPlan], EngineError> {
        let name = "\(path) (lsm \(l.hook))"
        let placement = env.place(.lsm(hook: l.hook))
        guard let tier = placement.tier, tier != HookPlacement.cgroupConnectTier else {
            // socket_connect without BPF-LSM: its cgroup form (ConnectLowering)
            if let form = ConnectLowering.form(lsmHook: l.hook) {
                return ConnectLowering.plans(form: form, common: l.common, path: path, name: name, family: .lsm, functionName: l.hook,
                                             policy: policy, env: env, monitor: monitor)
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
                setElement(&config.args, i, vigil_arg_spec(kind: lay.kind, source: a.index, size: lay.size, flags: lay.signed ? VIGIL_ARGF_SIGNED : 0, size_arg: a.sizeArgIndex ?? 0, pad: 0))
            case .failure(let e): return .failure(.unsupported("\(name): arg index \(a.index): \(e)"))
            }
        }
        config.nargs = UInt32(slots.count)
        return finish(config: config, slots: slots, selectors: l.common.selectors, flavour: .lsm, monitor: monitor, path: path, name: name, env: env) { config, sets in
            HookPlan(policyName: policy.name, hookPath: path, hookName: name, family: .lsm, flavour: .lsm, attach: .lsm(hook: l.hook),
                     functionName: l.hook, config: config, sets: sets, slots: slots, returnArg: nil,
                     message: l.common.message, tags: l.common.tags)
        }.map { [$0] }
    }

    /// A user-space function hook: one plan per symbol and per offset (a file offset into
    /// `u.path`, for stripped binaries), each a uprobe for every process that maps the file.
    /// Arguments are registers of the probed function; pointers are read from the process's
    /// memory, so only values a user-space function passes are accepted (integers, strings,
    /// char buffers).
    static func uprobe(_ u: UProbeSpec, path: String, policy: TracingPolicy, env: KernelEnvironment, monitor: Bool) -> Result<[HookPlan], EngineError> {
        let hook = "\(path) (uprobe \(u.path))"
        guard u.addrs.isEmpty, u.refCtrOffsets.isEmpty else {
            return .failure(.unsupported("\(hook): refCtrOffsets and addrs are not attached by Vigil yet; name the functions in symbols or their file offsets in offsets"))
        }
        let binary = hostPath(u.path)
        let placement = env.place(.uprobe(path: binary))
        guard placement.tier != nil else { return .failure(.unplaceable(hook: hook, tried: placement.skipped)) }
        var config = vigil_hook_config()
        var slots: [(arg: HookArg, layout: ArgumentLayout)] = []
        for (i, a) in u.common.args.enumerated() {
            guard a.index <= PolicyLimits.maxFunctionArgIndex else { return .failure(.unsupported("\(hook): arg index \(a.index) is past the 6 register arguments")) }
            switch ArgumentLayout.forFunction(a.type) {
            case .success(let l) where [VIGIL_ARG_INT, VIGIL_ARG_STRING, VIGIL_ARG_BUFFER].contains(l.kind):
                slots.append((a, l))
                var spec = vigil_arg_spec(kind: l.kind, source: a.index, size: l.size, flags: VIGIL_ARGF_USER | (l.signed ? VIGIL_ARGF_SIGNED : 0), size_arg: 0, pad: 0)
                if let s = a.sizeArgIndex, s > 0 { spec.size_arg = s }
                if a.maxData { spec.flags |= VIGIL_ARGF_MAXDATA }
                setElement(&config.args, i, spec)
            case .success:
                return .failure(.unsupported("\(hook): arg index \(a.index): a uprobe reads user-space values (integers, string, char_buf), not kernel objects (\(a.type.rawValue))"))
            case .failure(let e): return .failure(.unsupported("\(hook): arg index \(a.index): \(e)"))
            }
        }
        config.nargs = UInt32(slots.count)
        let targets = u.symbols.map { (symbol: Optional($0), offset: UInt64(0)) } + u.offsets.map { (symbol: String?.none, offset: $0) }
        var plans: [HookPlan] = []
        for (symbol, offset) in targets {
            let attach = AttachPoint.uprobe(binary: binary, symbol: symbol, offset: offset)
            let name = "\(path) (uprobe \(attach))"
            let plan = finish(config: config, slots: slots, selectors: u.common.selectors, flavour: .uprobe, monitor: monitor, path: path, name: name, env: env) { config, sets in
                var p = HookPlan(policyName: policy.name, hookPath: path, hookName: name, family: .uprobe, flavour: .uprobe,
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

    /// Selectors and flags common to every hook kind.
    static func finish(config: vigil_hook_config, slots: [(arg: HookArg, layout: ArgumentLayout)], selectors: [Selector], flavour: HookFlavour,
                       monitor: Bool, path: String, name: String, env: KernelEnvironment, byPosition: Bool = false, returnSlot: Int? = nil,
                       returnArgAction: ActionKind? = nil,
                       make: (vigil_hook_config, ValueSets) -> HookPlan) -> Result<HookPlan, EngineError> {
        var config = config
        if monitor { config.flags |= VIGIL_HOOKF_MONITOR }
        guard selectors.count <= Int(VIGIL_HOOK_SELECTORS) else { return .failure(.unsupported("\(name): at most \(VIGIL_HOOK_SELECTORS) selectors")) }
        var compiler = SelectorCompiler(slots: slots, filtersByPosition: byPosition, flavour: flavour, monitor: monitor, hostNamespace: env.hostNamespace)
        compiler.returnSlot = returnSlot
        for (i, s) in selectors.enumerated() {
            do {
                let compiled = try compiler.compile(s, path: "\(name).selectors[\(i)]")
                setElement(&config.selectors, i, compiled)
            } catch {
                return .failure(error)
            }
        }
        config.nselectors = UInt32(selectors.count)
        // Arguments some filter reads are read before the selectors run; the others only on a match.
        for i in 0..<Int(config.nselectors) {
            let sel = element(config.selectors, i, as: vigil_selector.self)
            for f in 0..<Int(sel.nfilters) {
                let slot = Int(element(sel.filters, f, as: vigil_arg_filter.self).slot)
                modifyElement(&config.args, slot, as: vigil_arg_spec.self) { $0.flags |= VIGIL_ARGF_FILTERED }
            }
        }
        // No selectors: every call posts, through selector 0's single Post action.
        if selectors.isEmpty {
            var s = vigil_selector()
            setElement(&s.actions, 0, vigil_action(kind: VIGIL_ACT_POST, arg: 0, rate_ns: 0, scope: 0, pad: 0))
            s.nactions = 1
            setElement(&config.selectors, 0, s)
        }
        // returnArgAction TrackSock/UntrackSock: one more action of every selector (of the one
        // above when there are none), on the return slot; it runs for the calls a selector
        // matches, as Tetragon's runs for the calls its entry filter let through.
        if let kind = returnArgAction, kind == .trackSock || kind == .untrackSock {
            let what = "\(name).returnArgAction"
            guard let rs = returnSlot else {
                return .failure(.unsupported("\(what): \(kind.rawValue) needs returnArg of type sock or socket"))
            }
            let slot: Int
            do { slot = try compiler.socketSlot(rs, what: what) } catch { return .failure(error) }
            let action = vigil_action(kind: kind == .trackSock ? VIGIL_ACT_TRACK_SOCK : VIGIL_ACT_UNTRACK_SOCK, arg: Int32(slot), rate_ns: 0, scope: 0, pad: 0)
            for i in 0..<max(1, Int(config.nselectors)) {
                var sel = element(config.selectors, i, as: vigil_selector.self)
                guard sel.nactions < VIGIL_SEL_ACTIONS else {
                    return .failure(.unsupported("\(what): selectors[\(i)] already has \(VIGIL_SEL_ACTIONS) actions"))
                }
                setElement(&sel.actions, Int(sel.nactions), action)
                sel.nactions += 1
                setElement(&config.selectors, i, sel)
            }
        }
        // A socket argument a TrackSock may have claimed: records name its owner (Tetragon's
        // socket tracking applies to every hook that reads a socket).
        if !flavour.isCgroup, let owned = slots.firstIndex(where: { $0.layout.kind == VIGIL_ARG_SOCK || $0.layout.kind == VIGIL_ARG_SOCKET }) {
            config.owner_slot = UInt32(owned + 1)
        }
        var plan = make(config, compiler.sets)
        plan.userActions = compiler.userActionsBySelector
        return .success(plan)
    }
}
