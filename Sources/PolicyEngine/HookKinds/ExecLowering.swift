import AgentCore
import CVigilABI
import KernelFeatures
import PolicyModel

/// An exec policy also judges the other ways code from the same files runs. A hook on
/// `sched/sched_process_exec` whose selector names binaries positively (matchBinaries In,
/// Prefix, Postfix), or an LSM exec hook (bprm_check_security, bprm_creds_for_exec) whose
/// selector names the linux_binprm's file positively, gets with it, on the same selectors'
/// other filters and the same actions:
///
/// - **scripts**: an interpreter (a shell, python, perl, ruby, php, node, lua, tcl, awk, ...)
///   opening the script it was started with, from the named files: `sh /tmp/x.sh`,
///   `python3 /tmp/x.py`, and the `#!` script the kernel hands its interpreter. Which open is
///   the script: the name opened has the last component of the interpreter's first
///   non-option argument (hook_script.h). A script that reads a data file from /tmp is not
///   flagged (the data file is not its first argument), nor is `cat /tmp/x` (cat is no
///   interpreter), nor `sh -c '...'` (no script file); a script read on stdin (`sh <
///   /tmp/x.sh`: no script argument, or `-`, sh -s) is the interpreter's descriptor 0 at its exec;
/// - **executable mappings**: a named file mapped executable (mmap with PROT_EXEC; mprotect
///   to PROT_EXEC where BPF-LSM is there): `/lib64/ld-linux-x86-64.so.2 /tmp/x`, a library
///   preloaded from /tmp.
///
/// Each is placed where it acts earliest: BPF-LSM (file_open, mmap_file, file_mprotect)
/// where the kernel has it, else syscall tracepoints (the opens at their exit, mmap at its
/// entry). Its events are the exec policy's (same event type, message and tags), the file
/// labelled `script` or `mapped`.
enum ExecLowering {
    /// Interpreters of script files, by the end of their path.
    static let interpreters =
        [
            "/sh", "/dash", "/bash", "/rbash", "/zsh", "/ksh", "/ksh93", "/mksh", "/pdksh", "/ash", "/csh", "/tcsh", "/fish",
            "/busybox", "/python", "/python2", "/python2.7", "/python3", "/pypy", "/pypy3", "/perl", "/perl5", "/ruby",
            "/php", "/php7", "/php8", "/node", "/nodejs", "/deno", "/bun", "/lua", "/luajit", "/tclsh", "/wish", "/awk",
            "/gawk", "/mawk", "/nawk", "/expect", "/Rscript", "/julia", "/pwsh", "/osascript", "/guile", "/sbcl",
        ]
        + (6...14).map { "/python3.\($0)" } + ["/lua5.1", "/lua5.2", "/lua5.3", "/lua5.4", "/tclsh8.6"]

    /// The lowered selectors of an exec hook: each selector that names files positively,
    /// its file filter as a matchArgs entry on slot 0 (the opened or mapped file), nil for the
    /// others (no lowered hook may run wider than its source).
    static func selectors(_ source: [Selector], fileFilter: (Selector) -> (op: ArgOperator, values: [String])?, fileFilterIsOnArgs: Bool) -> [Selector] {
        source.compactMap { s in
            guard let (op, values) = fileFilter(s) else { return nil }
            var l = Selector()
            l.matchArgs = [ArgFilter(index: 0, op: op, values: values)]
            l.matchParentBinaries = s.matchParentBinaries
            // An LSM exec hook's matchBinaries names the process calling exec (its image before
            // the exec). The kernel maps the new program from inside that exec, so a mapping's
            // caller is the same process and the same filter holds; the binary filter of a
            // sched_process_exec hook is the file filter itself and is not copied.
            if fileFilterIsOnArgs { l.matchBinaries = s.matchBinaries }
            l.matchPIDs = s.matchPIDs
            l.matchNamespaces = s.matchNamespaces
            l.matchCapabilities = s.matchCapabilities
            l.matchActions = s.matchActions
            return l
        }
    }

    /// matchBinaries as a file filter (sched_process_exec).
    static func binaryFilter(_ s: Selector) -> (op: ArgOperator, values: [String])? {
        // a selector that also tests the tracepoint's fields cannot be judged on a script or mapping
        guard s.matchBinaries.count == 1, let b = s.matchBinaries.first, !b.followChildren, s.matchArgs.isEmpty, s.matchData.isEmpty else { return nil }
        switch b.op {
        case .in: return (.equal, b.values)
        case .prefix: return (.prefix, b.values)
        case .postfix: return (.postfix, b.values)
        case .notIn, .notPrefix, .notPostfix: return nil
        }
    }

    /// The extra plans of an exec hook (empty when none of its selectors names files positively).
    static func plans(
        source selectors: [Selector], fileFilter: (Selector) -> (op: ArgOperator, values: [String])?, family: HookEvent.Family,
        functionName: String, subsystem: String, event: String, message: String?, tags: [String],
        path: String, policy: TracingPolicy, env: KernelEnvironment, monitor: Bool
    ) -> Result<[HookPlan], EngineError> {
        let lowered = Self.selectors(selectors, fileFilter: fileFilter, fileFilterIsOnArgs: family == .lsm)
        guard !lowered.isEmpty else { return .success([]) }
        let lsm = env.place(.lsm(hook: "file_open")).tier == "lsm"
        let needsLSM = lowered.contains { $0.matchActions.contains { $0.kind == .override } } && !monitor
        if needsLSM && !lsm {
            return .failure(.unplaceable(hook: path, tried: ["Override on the scripts and mappings of an exec policy needs BPF-LSM"]))
        }
        // A script is opened by the interpreter after its exec: a selector that names the exec's
        // caller (matchBinaries of an LSM exec hook) cannot be said of that opener, so it gets no
        // script lowering (narrower than its source, never wider).
        var scriptSelectors = lowered.filter { $0.matchBinaries.isEmpty }
        for i in scriptSelectors.indices { scriptSelectors[i].matchBinaries = [BinaryFilter(op: .postfix, values: interpreters)] }
        var mapSelectors = lowered
        var hooks: [(spec: Any, script: Bool, vma: Bool, stdin: Bool)] = []
        func arg(_ index: UInt32, _ type: ArgType, _ label: String? = nil) -> HookArg {
            var a = HookArg(index: index, type: type)
            a.label = label
            return a
        }
        if lsm {
            if !scriptSelectors.isEmpty {  // a hook without selectors would report every open
                var open = LSMHookSpec(hook: "file_open")
                open.common.args = [arg(0, .file, "script")]
                open.common.selectors = scriptSelectors
                hooks.append((open, true, false, false))
            }
            for i in mapSelectors.indices { mapSelectors[i].matchArgs.append(ArgFilter(index: 2, op: .mask, values: ["4"])) }  // PROT_EXEC
            var mmap = LSMHookSpec(hook: "mmap_file")
            mmap.common.args = [arg(0, .file, "mapped"), arg(2, .ulong)]
            mmap.common.selectors = mapSelectors
            hooks.append((mmap, false, false, false))
            var mprotect = LSMHookSpec(hook: "file_mprotect")
            mprotect.common.args = [arg(0, .file, "mapped"), arg(2, .ulong)]
            mprotect.common.selectors = mapSelectors
            hooks.append((mprotect, false, true, false))
        } else {
            // a tracepoint's filters name their argument by its field index
            let openEvents: [(String, UInt32)] = [("sys_enter_openat", 6), ("sys_enter_open", 5), ("sys_enter_openat2", 6)]
            for (event, field) in openEvents where !scriptSelectors.isEmpty {
                var t = TracepointSpec(subsystem: "syscalls", event: event)
                t.common.args = [arg(field, .string, "script")]
                t.common.selectors = scriptSelectors.map {
                    var s = $0
                    s.matchArgs[0].index = field
                    return s
                }
                hooks.append((t, true, false, false))
            }
            // mmap(addr, len, prot, flags, fd, off): prot is field 7, fd field 9
            for i in mapSelectors.indices {
                mapSelectors[i].matchArgs[0].index = 9
                mapSelectors[i].matchArgs.insert(ArgFilter(index: 7, op: .mask, values: ["4"]), at: 0)  // PROT_EXEC
            }
            var t = TracepointSpec(subsystem: "syscalls", event: "sys_enter_mmap")
            t.common.args = [arg(7, .uint64), arg(9, .fd, "mapped")]
            t.common.selectors = mapSelectors
            hooks.append((t, false, false, false))
        }
        // a script an interpreter reads on stdin (`sh < /tmp/x.sh`, `python3 - < x.py`): its
        // descriptor 0, judged at its exec (a tracepoint on every tier: it cannot deny, so a
        // selector that overrides gets none of this form, narrower than its source, never wider)
        let stdinSelectors = scriptSelectors.filter { !$0.matchActions.contains { $0.kind == .override } }
        if !stdinSelectors.isEmpty {
            var t = TracepointSpec(subsystem: "sched", event: "sched_process_exec")
            // field 5 (pid) only gives the argument a place: the reader takes descriptor 0 (VIGIL_ARGF_CONST)
            t.common.args = [arg(5, .fd, "script")]
            t.common.selectors = stdinSelectors.map {
                var s = $0
                s.matchArgs[0].index = 5
                return s
            }
            hooks.append((t, false, false, true))
        }
        var out: [HookPlan] = []
        for (i, h) in hooks.enumerated() {
            let sub = "\(path) (exec lowering \(i))"
            let r: Result<[HookPlan], EngineError>
            if let l = h.spec as? LSMHookSpec {
                r = LSMHook.lsm(l, path: sub, policy: policy, env: env, monitor: monitor)
            } else {
                r = TracepointHook.tracepoint(h.spec as! TracepointSpec, path: sub, policy: policy, env: env, monitor: monitor).map { [$0] }
            }
            switch r {
            case .failure(let e): return .failure(e)
            case .success(let ps):
                for var p in ps {
                    if h.script { p.config.flags |= VIGIL_HOOKF_SCRIPT_OPEN }
                    if h.stdin {
                        p.config.flags |= VIGIL_HOOKF_STDIN_SCRIPT
                        modifyElement(&p.config.args, 0, as: vigil_arg_spec.self) {
                            $0.kind = VIGIL_ARG_FD
                            $0.flags |= VIGIL_ARGF_CONST
                            $0.source = 0
                            $0.size = 4
                        }
                        p.slots[0].layout.kind = VIGIL_ARG_FD
                    }
                    if h.vma {
                        // file_mprotect's first argument is the vm_area_struct: its file
                        modifyElement(&p.config.args, 0, as: vigil_arg_spec.self) { $0.kind = VIGIL_ARG_VMA }
                        p.slots[0].layout.kind = VIGIL_ARG_VMA
                    }
                    // the events are the exec policy's
                    p.family = family
                    p.functionName = functionName
                    p.subsystem = subsystem
                    p.event = event
                    p.message = message
                    p.tags = tags
                    p.hookPath = path
                    out.append(p)
                }
            }
        }
        return .success(out)
    }
}
