import AgentCore
import CVigilABI
import KernelFeatures
import PolicyModel

/// Connect hooks that also have a cgroup form. A policy's `lsmhooks: socket_connect`, or a
/// `kprobes:` hook on `tcp_connect`, `security_socket_connect` or the connect syscall, runs
/// as cgroup/connect4 + cgroup/connect6 programs on the cgroup v2 root when the kernel cannot
/// host the hook itself (no BPF-LSM, no kprobes) or cannot Override it (tcp_connect is not
/// error-injectable, and Debian kernels lack bpf_override_return). The cgroup programs see
/// every connect before it leaves, in the caller's context, and deny by returning 0: the
/// same selectors, the same events (the hook's own function_name and event type).
///
/// What differs from the hook itself: only the connect's destination and the socket's own
/// bound end are known (what `struct bpf_sock_addr` carries), so only sock / socket /
/// sockaddr arguments can be filtered; Sigkill and Signal (which cgroup programs cannot
/// send) are sent by a companion program at the connect syscall's exit, before the caller
/// returns to user space.
enum ConnectLowering {
    struct Form {
        /// `tcp_connect` is only ever called for TCP sockets.
        var tcpOnly: Bool
    }

    /// The tables are HookPlacement's (where the placement falls back to this tier).
    static func form(lsmHook: String) -> Form? {
        HookPlacement.cgroupConnectForm(lsmHook: lsmHook) ? Form(tcpOnly: false) : nil
    }

    static func form(call: String, syscall: Bool) -> Form? {
        HookPlacement.cgroupConnectForm(call: HookPlacement.symbol(call: call, syscall: syscall)).map { Form(tcpOnly: $0) }
    }

    /// Why neither the hook itself nor its cgroup form can run: the cgroup form is one more tier tried.
    static func combine(native: EngineError, lowered: EngineError) -> EngineError {
        let why = "cgroup sock_addr: " + lowered.description
        if case .unplaceable(let hook, let tried) = native { return .unplaceable(hook: hook, tried: tried + [why]) }
        return .unsupported("\(native); \(why)")
    }

    /// The argument kinds a cgroup sock_addr context can fill.
    static let fillable: Set<UInt32> = [VIGIL_ARG_SOCK, VIGIL_ARG_SOCKET, VIGIL_ARG_SOCKADDR]

    /// One plan per connect program (IPv4, IPv6), or why the hook has no cgroup form here.
    static func plans(
        form: Form, common: HookCommon, path: String, name: String, family: HookEvent.Family, functionName: String,
        policy: TracingPolicy, env: KernelEnvironment, monitor: Bool
    ) -> Result<[HookPlan], EngineError> {
        let why = "\(name) as cgroup/connect4+connect6"
        guard env.status(.cgroupSockAddr).isSupported else {
            return .failure(.unplaceable(hook: why, tried: ["cgroup sock_addr programs \(env.status(.cgroupSockAddr))"]))
        }
        var config = vigil_hook_config()
        if form.tcpOnly { config.flags |= VIGIL_HOOKF_TCP_ONLY }
        // cgroup programs cannot signal: Sigkill/Signal go out at the connect syscall's exit
        if common.selectors.contains(where: { $0.matchActions.contains { $0.kind == .sigkill || $0.kind == .signal } }) {
            config.flags |= VIGIL_HOOKF_DEFER_SIGNAL
        }
        var slots: [(arg: HookArg, layout: ArgumentLayout)] = []
        for (i, a) in common.args.enumerated() {
            switch ArgumentLayout.forFunction(a.type) {
            case .success(let l):
                slots.append((a, l))
                setElement(&config.args, i, vigil_arg_spec(kind: l.kind, source: a.index, size: l.size, flags: 0, size_arg: 0, name_set: 0))
            case .failure(let e): return .failure(.unsupported("\(why): arg index \(a.index): \(e)"))
            }
        }
        config.nargs = UInt32(slots.count)
        var out: [HookPlan] = []
        for flavour in [HookFlavour.cgroupConnect4, .cgroupConnect6] {
            let r = PolicyCompiler.finish(
                config: config, slots: slots, selectors: common.selectors, flavour: flavour, monitor: monitor,
                path: path, name: "\(name) as \(flavour.rawValue)", env: env
            ) { config, sets in
                HookPlan(
                    policyName: policy.name, hookPath: path, hookName: "\(name) as \(flavour.rawValue)", family: family, flavour: flavour,
                    attach: .cgroupRoot, functionName: functionName, config: config, sets: sets, slots: slots, returnArg: nil,
                    message: common.message, tags: common.tags)
            }
            switch r {
            case .success(let p):
                // A filter on an argument the context cannot fill would test zeros: refuse it.
                for (i, s) in slots.enumerated() where !fillable.contains(s.layout.kind) {
                    if element(p.config.args, i, as: vigil_arg_spec.self).flags & VIGIL_ARGF_FILTERED != 0 {
                        return .failure(
                            .unsupported(
                                "\(why): arg index \(s.arg.index) (\(s.arg.type.rawValue)) cannot be filtered there; only sock, socket and sockaddr arguments"))
                    }
                }
                out.append(p)
            case .failure(let e): return .failure(e)
            }
        }
        return .success(out)
    }
}
