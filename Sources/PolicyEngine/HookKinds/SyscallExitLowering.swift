import AgentCore
import CVigilABI
import KernelFeatures
import PolicyModel

/// An open (`sys_enter_open`, `openat`, `openat2`, `creat`) whose pathname a selector judges,
/// lowered to the syscall's exit: the hook runs on `sys_exit_<call>`, its pathname argument
/// becomes the file behind the returned descriptor (its global path and identity, as the
/// kernel resolved every symlink, bind mount, relative name and /proc/self/root on the way),
/// and the other arguments are the registers the call was entered with. A Sigkill there ends
/// the caller before it returns to user space: it never reads a byte.
///
/// A call refused for lack of permission (EACCES, EPERM) opened nothing: its pathname is then
/// resolved as a string (vigil_pathname.h), so attempts are judged too. Other failures
/// (ENOENT, ...) reached no file and match nothing.
///
/// The event stays the policy's (`process_tracepoint`, its subsystem and event).
enum SyscallExitLowering {
    /// The declared arguments that are the open's pathname, when a selector looks at one (nil:
    /// none does, and the open stays a plain tracepoint hook).
    static func judgedPathSlots(_ t: TracepointSpec, syscall: String, fields: [TracepointFormat.Field]) -> Set<Int>? {
        let pathSlots = Set(fields.indices.filter { SyscallPaths.field(syscall, fields[$0].name) != nil && t.common.args[$0].type.family != .integer })
        // a filter names its argument by position (`args: [n]`) or by the argument's index
        let pathIndexes = Set(pathSlots.map { t.common.args[$0].index })
        let judged = t.common.selectors.contains { s in
            s.matchArgs.contains { f in f.args.first.map { pathSlots.contains(Int($0)) } ?? pathIndexes.contains(f.index) }
        }
        return judged ? pathSlots : nil
    }

    static func plan(
        _ t: TracepointSpec, syscall: String, fields: [TracepointFormat.Field], format: TracepointFormat, path: String, name: String,
        policy: TracingPolicy, env: KernelEnvironment, monitor: Bool
    ) -> Result<HookPlan, EngineError>? {
        guard let pathSlots = judgedPathSlots(t, syscall: syscall, fields: fields) else { return nil }
        let exitEvent = "sys_exit_" + syscall
        let exitName = "\(name) judged at syscalls/\(exitEvent)"
        let placement = env.place(.tracepoint(subsystem: "syscalls", event: exitEvent, raw: false, readsFields: true))
        guard placement.tier != nil else { return .failure(.unplaceable(hook: exitName, tried: placement.skipped)) }
        var config = vigil_hook_config()
        var slots: [(arg: HookArg, layout: ArgumentLayout)] = []
        for (i, (a, field)) in zip(t.common.args, fields).enumerated() {
            guard let position = SyscallPaths.position(ofFieldAt: field.offset) else {
                return .failure(.unsupported("\(name): arg index \(a.index) (\(field.name)) is not a syscall argument"))
            }
            if pathSlots.contains(i) {
                // the opened file; on EACCES/EPERM the pathname in register `position`
                let dirfd = SyscallPaths.field(syscall, field.name)?.dirfd.flatMap { d in format.fields.first { $0.name == d } }
                let dirfdPosition = dirfd.flatMap { SyscallPaths.position(ofFieldAt: $0.offset) }
                slots.append((a, ArgumentLayout(kind: VIGIL_ARG_FD, size: 8, signed: true, presentation: .file)))
                setElement(
                    &config.args, i,
                    vigil_arg_spec(
                        kind: VIGIL_ARG_FD, source: position, size: 8,
                        flags: VIGIL_ARGF_RETURN | VIGIL_ARGF_PATHNAME_FALLBACK | VIGIL_ARGF_SIGNED | VIGIL_ARGF_USER,
                        size_arg: dirfdPosition.map { $0 + 1 } ?? 0, name_set: 0))
                continue
            }
            let layout: ArgumentLayout
            switch ArgumentLayout.forTracepoint(a.type, field: field) {
            case .success(let l): layout = l
            case .failure(let e): return .failure(.unsupported("\(name): arg index \(a.index): \(e)"))
            }
            slots.append((a, layout))
            let size = layout.kind == VIGIL_ARG_INT ? min(layout.size, UInt32(field.size)) : 8
            setElement(
                &config.args, i,
                vigil_arg_spec(
                    kind: layout.kind, source: position, size: size,
                    flags: VIGIL_ARGF_USER | (layout.signed ? VIGIL_ARGF_SIGNED : 0), size_arg: 0, name_set: 0))
        }
        config.nargs = UInt32(slots.count)
        return PolicyCompiler.finish(
            config: config, slots: slots, selectors: t.common.selectors, flavour: .syscallExit, monitor: monitor,
            path: path, name: exitName, env: env, byPosition: true
        ) { config, sets in
            var p = HookPlan(
                policyName: policy.name, hookPath: path, hookName: exitName, family: .tracepoint, flavour: .syscallExit,
                attach: .tracepoint(subsystem: "syscalls", event: exitEvent), functionName: "", config: config, sets: sets,
                slots: slots, returnArg: nil, message: t.common.message, tags: t.common.tags)
            p.subsystem = t.subsystem
            p.event = t.event
            return p
        }
    }
}
