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

    public init(
        place: @escaping @Sendable (HookTarget) -> Placement, status: @escaping @Sendable (KernelFeature) -> FeatureStatus,
        tracepointFormat: @escaping @Sendable (String, String) -> TracepointFormat?, hostNamespace: @escaping @Sendable (NamespaceKind) -> UInt32?
    ) {
        self.place = place
        self.status = status
        self.tracepointFormat = tracepointFormat
        self.hostNamespace = hostNamespace
    }

    /// The running kernel (feature probes are cached by `FeatureProbe.shared`).
    public static var running: KernelEnvironment {
        KernelEnvironment(
            place: { HookPlacement.place($0) }, status: { FeatureProbe.shared.status($0) },
            tracepointFormat: { TracepointFormat.load(subsystem: $0, event: $1) },
            hostNamespace: { kind in
                let names: [NamespaceKind: String] = [
                    .uts: "uts", .ipc: "ipc", .mnt: "mnt", .pid: "pid", .pidForChildren: "pid_for_children",
                    .net: "net", .time: "time", .timeForChildren: "time_for_children", .cgroup: "cgroup", .user: "user",
                ]
                guard let n = names[kind], let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/1/ns/\(n)"),
                    let open = link.firstIndex(of: "["), let close = link.firstIndex(of: "]")
                else { return nil }
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

/// Compiles a validated TracingPolicy into one `HookPlan` per hook for a kernel, hook kind by
/// hook kind (HookRegistry). All or nothing: any hook that cannot run makes the whole policy
/// fail, with every reason, unless the policy opts in to `allow-partial-load` (then at least
/// one hook must remain).
public enum PolicyCompiler {
    public static func compile(_ policy: TracingPolicy, firstHookID: UInt32, environment env: KernelEnvironment = .running) -> Result<
        CompiledPolicy, PolicyLoadError
    > {
        var plans: [HookPlan] = []
        var errors = PolicyScope.refusals(policy)
        let spec = policy.spec
        var nextID = firstHookID
        if spec.loader { errors.append(.unsupported("spec.loader: loader (mapped ELF) events are not implemented by Vigil")) }
        if !spec.enforcers.isEmpty {
            errors.append(.unsupported("spec.enforcers: Vigil's engine enforces from the hooks themselves (Sigkill/Override); enforcers are not implemented"))
        }
        for hook in HookRegistry.compileAll(policy, env: env) {
            switch hook.result {
            case .success(let ps):
                for var p in ps {
                    p.config.hook_id = nextID
                    nextID += 1
                    plans.append(p)
                }
            case .failure(let e): errors.append(e)
            }
        }
        if errors.contains(where: \.refuses) && !(spec.allowsPartialLoad && !plans.isEmpty) {
            let errors = errors.filter(\.refuses)
            var e = PolicyLoadError(policy: policy.name, file: policy.location.file, reasons: errors)
            e.locations = errors.map { $0.yamlPath.flatMap { policy.positions.location(of: $0) } }
            return .failure(e)
        }
        return .success(CompiledPolicy(plans: plans, skipped: errors))
    }

    /// Selectors and flags common to every hook kind.
    static func finish(
        config: vigil_hook_config, slots: [(arg: HookArg, layout: ArgumentLayout)], selectors: [Selector], flavour: HookFlavour,
        monitor: Bool, path: String, name: String, env: KernelEnvironment, byPosition: Bool = false, returnSlot: Int? = nil,
        returnArgAction: ActionKind? = nil,
        make: (vigil_hook_config, ValueSets) -> HookPlan
    ) -> Result<HookPlan, EngineError> {
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
        // A file's own name tested before its walk (NameGate), per argument.
        for (slot, gate) in compiler.nameGates.sorted(by: { $0.key < $1.key }) {
            modifyElement(&config.args, slot, as: vigil_arg_spec.self) { gate.apply(to: &$0, sets: &compiler.sets) }
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
        plan.identities = compiler.identities
        plan.follows = compiler.follows
        return .success(plan)
    }
}
