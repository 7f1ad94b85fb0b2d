import AgentCore
import CVigilABI
import KernelFeatures
import PolicyModel

/// io_uring's forms of a syscall hook. An io_uring request opens, renames, links, unlinks or
/// makes a directory without the syscall, so a hook on `sys_enter_openat` or
/// `sys_enter_renameat2` alone is bypassed by submitting the same operation to a ring (what
/// io_uring rootkits do). Each such hook of a policy gets a second program on io_uring's own
/// tracepoints (bpf/include/hook_uring.h) with the same arguments, selectors and actions:
/// - an open (`open`, `openat`, `openat2`, `creat`) whose file a selector judges: at
///   `io_uring_complete`, by the file behind the descriptor the request returned, or,
///   for an open into a fixed-file slot, the file of each read or write through that slot;
/// - a rename, link, symlink, unlink, rmdir, mkdir, setxattr, fsetxattr or ftruncate: at
///   `io_uring_submit_req`, by the request's names resolved in the kernel against its directory
///   descriptor, or by its descriptor's file (a fixed-file slot's is not resolved there).
/// The forms run as raw tracepoint programs in the chains of one dispatcher per tracepoint
/// (IOUringDispatch), never each on its own.
///
/// Arguments are matched to the request's fields by the syscall's field names (`olddfd`,
/// `newname`, `flags`, `mode`, ...). One request kind is judged once per policy: by the hook
/// of the first syscall of its group the policy has (a policy hooking rename, renameat and
/// renameat2 gets one io_uring form, from renameat2's hook). The event is the policy's hook's.
enum IOUringLowering {
    /// A request kind (IORING_OP_*) and the syscalls whose hooks stand for it, preferred first.
    struct Group {
        let op: UInt8
        let syscalls: [String]
    }
    static let openat = Group(op: 18, syscalls: ["openat", "openat2", "open", "creat"])
    static let openat2 = Group(op: 28, syscalls: ["openat2", "openat", "open", "creat"])
    static let submitted: [Group] = [
        Group(op: 35, syscalls: ["renameat2", "renameat", "rename"]),
        Group(op: 36, syscalls: ["unlinkat", "unlink", "rmdir"]),
        Group(op: 37, syscalls: ["mkdirat", "mkdir"]),
        Group(op: 38, syscalls: ["symlinkat", "symlink"]),
        Group(op: 39, syscalls: ["linkat", "link"]),
        Group(op: 41, syscalls: ["fsetxattr"]),
        Group(op: 42, syscalls: ["setxattr", "lsetxattr"]),
        Group(op: 55, syscalls: ["ftruncate"]),  // Linux 6.9+
    ]

    /// The io_uring forms of tracepoint hook `t` (none when its syscall has no io_uring
    /// counterpart, when another hook of the policy stands for it, or when the kernel has no
    /// io_uring at all).
    static func plans(
        _ t: TracepointSpec, path: String, name: String, policy: TracingPolicy, env: KernelEnvironment, monitor: Bool
    ) -> Result<[HookPlan], EngineError> {
        guard t.subsystem == "syscalls", !t.raw, let syscall = SyscallPaths.syscall(ofEvent: t.event),
            let format = env.tracepointFormat(t.subsystem, t.event)
        else { return .success([]) }
        let hooked = Set(
            policy.spec.tracepoints.filter { $0.subsystem == "syscalls" && !$0.raw }.compactMap { SyscallPaths.syscall(ofEvent: $0.event) })
        func standsFor(_ g: Group) -> Bool { g.syscalls.first(where: hooked.contains) == syscall }
        let fields = t.common.args.compactMap { Int($0.index) < format.fields.count ? format.fields[Int($0.index)] : nil }
        guard fields.count == t.common.args.count else { return .success([]) }  // the hook itself reports the bad index

        if SyscallPaths.opens.contains(syscall) {
            var flags: UInt32 = 0
            if standsFor(openat) { flags |= VIGIL_HOOKF_URING_OPENAT | VIGIL_HOOKF_URING_FIXED_RW }
            if standsFor(openat2) { flags |= VIGIL_HOOKF_URING_OPENAT2 }
            // an open whose syscall hook is judged at its exit, by the opened file
            guard flags != 0, let pathSlots = SyscallExitLowering.judgedPathSlots(t, syscall: syscall, fields: fields) else { return .success([]) }
            return plan(
                t, syscall: syscall, fields: fields, pathSlots: pathSlots, event: "io_uring_complete", flags: flags,
                flavour: .ioUringComplete, path: path, name: name, policy: policy, env: env, monitor: monitor)
        }
        guard let group = submitted.first(where: { $0.syscalls.contains(syscall) }), standsFor(group) else { return .success([]) }
        // the submission tracepoint was io_uring_submit_sqe before Linux 6.4
        let event = env.tracepointFormat("io_uring", "io_uring_submit_req") != nil ? "io_uring_submit_req" : "io_uring_submit_sqe"
        return plan(
            t, syscall: syscall, fields: fields, pathSlots: [], event: event, flags: UInt32(group.op) << VIGIL_HOOKF_URING_OP_SHIFT,
            flavour: .ioUringSubmit, path: path, name: name, policy: policy, env: env, monitor: monitor)
    }

    /// The request field (VIGIL_URING_*) a syscall tracepoint field stands for.
    static func source(ofField name: String) -> UInt32 {
        switch name {
        case "dfd", "olddfd": VIGIL_URING_DFD
        case "newdfd": VIGIL_URING_NEW_DFD
        case "filename", "pathname", "oldname": VIGIL_URING_NAME
        case "newname": VIGIL_URING_NEW_NAME
        case "flags", "flag": VIGIL_URING_FLAGS
        case "mode": VIGIL_URING_MODE
        case "fd": VIGIL_URING_FD
        case "name": VIGIL_URING_XATTR
        case "size", "length": VIGIL_URING_SIZE
        default: VIGIL_URING_NONE
        }
    }

    private static func plan(
        _ t: TracepointSpec, syscall: String, fields: [TracepointFormat.Field], pathSlots: Set<Int>, event: String, flags: UInt32,
        flavour: HookFlavour, path: String, name: String, policy: TracingPolicy, env: KernelEnvironment, monitor: Bool
    ) -> Result<[HookPlan], EngineError> {
        let hookName = "\(name) io_uring form at io_uring/\(event)"
        // no io_uring in this kernel: nothing to bypass the syscall with
        guard env.tracepointFormat("io_uring", event) != nil else { return .success([]) }
        let placement = env.place(.tracepoint(subsystem: "io_uring", event: event, raw: true, readsFields: true))
        guard placement.tier != nil else { return .failure(.unplaceable(hook: hookName, tried: placement.skipped)) }
        var config = vigil_hook_config()
        config.flags = flags
        var slots: [(arg: HookArg, layout: ArgumentLayout)] = []
        for (i, (a, field)) in zip(t.common.args, fields).enumerated() {
            let src = Self.source(ofField: field.name)
            if pathSlots.contains(i) {
                // the opened file: hook_return_value of the completion
                slots.append((a, ArgumentLayout(kind: VIGIL_ARG_FD, size: 8, signed: true, presentation: .file)))
                setElement(&config.args, i, vigil_arg_spec(kind: VIGIL_ARG_FILE, source: 0, size: 8, flags: VIGIL_ARGF_RETURN, size_arg: 0, name_set: 0))
                continue
            }
            var layout: ArgumentLayout
            switch ArgumentLayout.forTracepoint(a.type, field: field) {
            case .success(let l): layout = l
            case .failure(let e): return .failure(.unsupported("\(hookName): arg index \(a.index): \(e)"))
            }
            var sizeArg: UInt32 = 0
            if let pf = SyscallPaths.field(syscall, field.name), layout.kind == VIGIL_ARG_STRING {
                layout = ArgumentLayout(kind: VIGIL_ARG_PATHNAME, size: 8, signed: false, presentation: .string)
                if let d = pf.dirfd { sizeArg = Self.source(ofField: d) + 1 }
            } else if layout.kind != VIGIL_ARG_INT && layout.kind != VIGIL_ARG_STRING && layout.kind != VIGIL_ARG_FD {
                return .success([])  // nothing else has a counterpart in a request
            }
            slots.append((a, layout))
            let size = layout.kind == VIGIL_ARG_INT ? min(layout.size, UInt32(field.size)) : 8
            // names are kernel strings here (the request's struct filename): no VIGIL_ARGF_USER
            setElement(
                &config.args, i,
                vigil_arg_spec(kind: layout.kind, source: src, size: size, flags: layout.signed ? VIGIL_ARGF_SIGNED : 0, size_arg: sizeArg, name_set: 0))
        }
        config.nargs = UInt32(slots.count)
        return PolicyCompiler.finish(
            config: config, slots: slots, selectors: t.common.selectors, flavour: flavour, monitor: monitor, path: path, name: hookName, env: env,
            byPosition: true
        ) { config, sets in
            var p = HookPlan(
                policyName: policy.name, hookPath: path, hookName: hookName, family: .tracepoint, flavour: flavour,
                attach: .tracepoint(subsystem: "io_uring", event: event), functionName: "", config: config, sets: sets, slots: slots, returnArg: nil,
                message: t.common.message, tags: t.common.tags)
            p.subsystem = t.subsystem
            p.event = t.event
            return p
        }.map { [$0] }
    }
}
