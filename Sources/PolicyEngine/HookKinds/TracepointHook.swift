import AgentCore
import CVigilABI
import KernelFeatures
import PolicyModel

/// `tracepoints:`: a kernel tracepoint (classic, or raw with `raw: true`). Arguments are
/// fields of the tracepoint's record, named by position in its tracefs format. A syscall
/// tracepoint's pathname fields are resolved in the kernel (SyscallPaths), and an open whose
/// file a selector judges is judged at the syscall's exit, by the file it opened.
enum TracepointHook: HookKind {
    static let section = "tracepoints"
    static var hooks: KeyPath<PolicySpec, [TracepointSpec]> { \.tracepoints }
    static var common: WritableKeyPath<TracepointSpec, HookCommon> { \.common }
    static func describe(_ t: TracepointSpec) -> String { "\(t.raw ? "raw tracepoint" : "tracepoint") \(t.subsystem)/\(t.event)" }
    static func compile(_ t: TracepointSpec, _ c: CompileContext) -> Result<[HookPlan], EngineError> {
        tracepoint(t, path: c.path, policy: c.policy, env: c.env, monitor: c.monitor).flatMap { plan in
            // a file syscall's hook also judges the same operation submitted to an io_uring
            if t.subsystem == "syscalls" {
                let name = "\(c.path) (tracepoint \(t.subsystem)/\(t.event))"
                return IOUringLowering.plans(t, path: c.path, name: name, policy: c.policy, env: c.env, monitor: c.monitor).map { [plan] + $0 }
            }
            // an exec policy also judges scripts and executable mappings of the files it names
            guard t.subsystem == "sched" && t.event == "sched_process_exec" && !t.raw else { return .success([plan]) }
            return ExecLowering.plans(
                source: t.common.selectors, fileFilter: ExecLowering.binaryFilter, family: .tracepoint, functionName: "",
                subsystem: t.subsystem, event: t.event, message: t.common.message, tags: t.common.tags,
                path: c.path, policy: c.policy, env: c.env, monitor: c.monitor
            ).map { [plan] + $0 }
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
                    setElement(
                        &config.args, i,
                        vigil_arg_spec(kind: l.kind, source: a.index, size: l.size, flags: l.signed ? VIGIL_ARGF_SIGNED : 0, size_arg: 0, name_set: 0))
                case .failure(let e): return .failure(.unsupported("\(name): arg index \(a.index): \(e)"))
                }
            }
        } else {
            guard let format = env.tracepointFormat(t.subsystem, t.event) else {
                return .failure(.unplaceable(hook: name, tried: ["tracepoint: no format for \(t.subsystem)/\(t.event) in tracefs"]))
            }
            let user = t.subsystem == "syscalls" || t.subsystem == "raw_syscalls"
            let syscall = t.subsystem == "syscalls" ? SyscallPaths.syscall(ofEvent: t.event) : nil
            var fields: [TracepointFormat.Field] = []
            for a in t.common.args {
                guard Int(a.index) < format.fields.count else {
                    return .failure(.unsupported("\(name): arg index \(a.index) is past the tracepoint's \(format.fields.count) fields"))
                }
                fields.append(format.fields[Int(a.index)])
            }
            // An open whose file a selector judges: judged at the syscall's exit, by the file the
            // kernel opened (SyscallExitLowering), never by the name the caller passed.
            if let syscall, SyscallPaths.opens.contains(syscall),
                let plan = SyscallExitLowering.plan(
                    t, syscall: syscall, fields: fields, format: format, path: path, name: name, policy: policy, env: env, monitor: monitor)
            {
                return plan
            }
            for (i, (a, field)) in zip(t.common.args, fields).enumerated() {
                var layout: ArgumentLayout
                switch ArgumentLayout.forTracepoint(a.type, field: field) {
                case .success(let l): layout = l
                case .failure(let e): return .failure(.unsupported("\(name): arg index \(a.index): \(e)"))
                }
                var sizeArg: UInt32 = 0
                // A syscall's pathname: resolved in the kernel (relative names, dirfd, `..`,
                // /proc/self/...), not matched as the string the caller passed.
                if let syscall, let pf = SyscallPaths.field(syscall, field.name), layout.kind == VIGIL_ARG_STRING {
                    layout = ArgumentLayout(kind: VIGIL_ARG_PATHNAME, size: 8, signed: false, presentation: .string)
                    if let d = pf.dirfd, let dirfd = format.fields.first(where: { $0.name == d }) { sizeArg = UInt32(dirfd.offset) + 1 }
                }
                if layout.kind == VIGIL_ARG_SOCKADDR_UN { sizeArg = SockaddrLength.tracepoint(format: format) }
                slots.append((a, layout))
                var flags: UInt32 = layout.signed ? VIGIL_ARGF_SIGNED : 0
                if user { flags |= VIGIL_ARGF_USER }
                let size =
                    layout.kind == VIGIL_ARG_INLINE
                    ? UInt32(field.size) : layout.kind == VIGIL_ARG_INT || layout.kind == VIGIL_ARG_FD ? min(layout.size, UInt32(field.size)) : 8
                setElement(
                    &config.args, i, vigil_arg_spec(kind: layout.kind, source: UInt32(field.offset), size: size, flags: flags, size_arg: sizeArg, name_set: 0))
            }
        }
        config.nargs = UInt32(slots.count)
        let flavour: HookFlavour = t.raw ? .rawTracepoint : placement.tier == "tp_btf" ? .execBTF : .tracepoint
        return PolicyCompiler.finish(
            config: config, slots: slots, selectors: t.common.selectors, flavour: flavour, monitor: monitor, path: path, name: name, env: env, byPosition: true
        ) { config, sets in
            var p = HookPlan(
                policyName: policy.name, hookPath: path, hookName: name, family: .tracepoint, flavour: flavour,
                attach: t.raw ? .rawTracepoint(event: t.event) : .tracepoint(subsystem: t.subsystem, event: t.event),
                functionName: "", config: config, sets: sets, slots: slots, returnArg: nil,
                message: t.common.message, tags: t.common.tags)
            p.subsystem = t.subsystem
            p.event = t.event
            return p
        }
    }

}
