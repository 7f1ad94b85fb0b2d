#if canImport(Glibc)
    import Glibc
#endif

/// One program of a `BPFObject`. It keeps its object alive.
///
/// Attach methods return a `BPFLink` that owns the attachment: dropping or closing the
/// link detaches the program.
public struct BPFProgram {
    let object: BPFObject
    let handle: OpaquePointer

    /// The C function name.
    public var name: String { Libbpf.programName(handle) }
    /// The ELF section (e.g. `tracepoint/sched/sched_process_exec`), which encodes the hook.
    public var section: String { Libbpf.programSection(handle) }
    /// The program's file descriptor after load (negative before).
    public var fd: Int32 { Libbpf.programFD(handle) }

    var subject: String { "object \(object.name), program \(name)" }

    /// Total run time and run count the kernel measured for this program since load; both stay
    /// 0 unless the sysctl kernel.bpf_stats_enabled is 1 (it costs two clock reads per run).
    /// The corresponding libbpf function is `bpf_obj_get_info_by_fd`.
    public func runStats() throws(BPFError) -> (runTimeNs: UInt64, runCount: UInt64) {
        try Libbpf.programRunStats(fd: fd, subject: subject)
    }

    /// The loaded program through its own descriptor, independent of the object (see
    /// `BPFMap.independentCopy`): for its run statistics once the object is closed.
    public func independentCopy() throws(BPFError) -> LoadedProgramFD {
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 3)
        guard copy >= 0 else { throw BPFError(operation: "fcntl(F_DUPFD_CLOEXEC)", subject: subject, errno: errno) }
        return LoadedProgramFD(fd: FileDescriptorBox(copy), subject: subject)
    }

    /// Whether `BPFObject.load()` loads this program. The corresponding libbpf function is `bpf_program__set_autoload`.
    public func setAutoload(_ on: Bool) throws(BPFError) { try Libbpf.setAutoload(handle, on, subject: subject) }

    /// Fixes the kernel function a trampoline or LSM program (fentry, fexit, fmod_ret, lsm)
    /// attaches to; before load, since the verifier checks the program against that
    /// function's BTF. The corresponding libbpf function is `bpf_program__set_attach_target`.
    public func setAttachTarget(function: String) throws(BPFError) {
        try Libbpf.setAttachTarget(handle, function: function, subject: subject)
    }

    /// Attaches where the section name says (tracepoint, kprobe, fentry, lsm, ...).
    public func attach() throws(BPFError) -> BPFLink {
        BPFLink(libbpfLink: try Libbpf.attach(handle, subject: subject), description: "\(section) (\(name))")
    }

    /// Attaches to tracepoint `category:name` (e.g. `syscalls`, `sys_enter_openat`).
    public func attachTracepoint(category: String, name: String) throws(BPFError) -> BPFLink {
        let l = try Libbpf.attachTracepoint(handle, category: category, name: name, subject: subject)
        return BPFLink(libbpfLink: l, description: "tracepoint/\(category)/\(name)")
    }

    /// Attaches a raw tracepoint (`raw_tp`) program to `name`.
    public func attachRawTracepoint(_ name: String) throws(BPFError) -> BPFLink {
        BPFLink(libbpfLink: try Libbpf.attachRawTracepoint(handle, name: name, subject: subject), description: "raw_tp/\(name)")
    }

    /// Attaches a kprobe (or kretprobe) to kernel function `function`. Requires CONFIG_KPROBES.
    public func attachKprobe(_ function: String, retprobe: Bool = false) throws(BPFError) -> BPFLink {
        let l = try Libbpf.attachKprobe(handle, function: function, retprobe: retprobe, subject: subject)
        return BPFLink(libbpfLink: l, description: "\(retprobe ? "kretprobe" : "kprobe")/\(function)")
    }

    /// Attaches a uprobe-section program to a user-space function of `binary` for every process
    /// (the ELF symbol `function`, or file offset `offset` when `function` is nil). Requires
    /// CONFIG_UPROBES.
    public func attachUprobe(binary: String, function: String?, offset: UInt64 = 0) throws(BPFError) -> BPFLink {
        let l = try Libbpf.attachUprobe(handle, binary: binary, function: function, offset: offset, subject: subject)
        return BPFLink(libbpfLink: l, description: "uprobe/\(binary):\(function ?? String(offset, radix: 16))")
    }

    /// Attaches a BTF-typed tracing program (fentry, fexit, fmod_ret, tp_btf) at the target fixed at load.
    public func attachTrace() throws(BPFError) -> BPFLink {
        BPFLink(libbpfLink: try Libbpf.attachTrace(handle, subject: subject), description: "\(section) (\(name))")
    }

    /// Attaches a BPF-LSM program. Requires Linux 5.7 and `bpf` in the active LSM list.
    public func attachLSM() throws(BPFError) -> BPFLink {
        BPFLink(libbpfLink: try Libbpf.attachLSM(handle, subject: subject), description: "\(section) (\(name))")
    }

    /// Attaches a cgroup program (sock_addr, skb, ...) to the cgroup v2 directory at `path`.
    public func attachCgroup(path: String) throws(BPFError) -> BPFLink {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw BPFError(operation: "open", subject: "cgroup \(path)", errno: errno) }
        defer { close(fd) }
        return BPFLink(libbpfLink: try Libbpf.attachCgroup(handle, cgroupFD: fd, subject: subject), description: "\(section) on \(path)")
    }

    /// Attaches a `tc` program through a clsact qdisc on `ifindex` (created if missing and
    /// destroyed on detach only if this call created it). With `replace`, an existing filter
    /// at the same handle and priority is replaced; otherwise that is an EEXIST error.
    public func attachTC(ifindex: Int32, ingress: Bool, handle tcHandle: UInt32 = 1, priority: UInt32 = 1, replace: Bool = true) throws(BPFError) -> BPFLink {
        let hook = Libbpf.tcHook(ifindex: ifindex, ingress: ingress)
        let created = try Libbpf.tcHookCreate(hook, subject: subject)
        do {
            try Libbpf.tcAttach(hook, programFD: fd, handle: tcHandle, priority: priority, replace: replace, subject: subject)
        } catch {
            if created { Libbpf.tcHookDestroy(hook) }
            throw error
        }
        return BPFLink(
            tc: hook, handle: tcHandle, priority: priority, destroyHook: created,
            description: "tc/\(ingress ? "ingress" : "egress") on ifindex \(ifindex)")
    }

    /// Attaches through tcx (Linux 6.6+), a BPF link on the interface's ingress or egress.
    public func attachTCX(ifindex: Int32, ingress: Bool) throws(BPFError) -> BPFLink {
        let linkFD = try Libbpf.linkCreate(programFD: fd, targetFD: ifindex, attachType: ingress ? 46 : 47, subject: subject)
        return BPFLink(fd: linkFD, description: "tcx/\(ingress ? "ingress" : "egress") on ifindex \(ifindex)")
    }
}

/// A loaded program held by its descriptor alone (`BPFProgram.independentCopy`).
public struct LoadedProgramFD {
    let fd: FileDescriptorBox
    let subject: String

    /// The descriptor, while this copy lives (a program array entry is written by it).
    public var rawFD: Int32 { fd.fd }

    /// As `BPFProgram.runStats`.
    public func runStats() throws(BPFError) -> (runTimeNs: UInt64, runCount: UInt64) {
        try Libbpf.programRunStats(fd: fd.fd, subject: subject)
    }
}
