import CBPFShim
import CLibbpf

#if canImport(Glibc)
    import Glibc
#endif

/// The one seam between Vigil and libbpf: every libbpf C function Vigil uses is called
/// here and nowhere else. Each wrapper reads errno immediately, normalizes libbpf's two
/// error conventions (negative return, or NULL plus errno) into `BPFError`, and attaches
/// whatever libbpf printed during the call.
///
/// Pointers returned here are `OpaquePointer`s that only BPFKit's owner types hold.
enum Libbpf {
    /// Installs the capture of libbpf's print output (once per process).
    static let installCapture: Void = {
        vigil_libbpf_capture_install(getenv("VIGIL_LIBBPF_DEBUG") != nil ? 1 : 0)
    }()

    /// Runs `body` with libbpf's output captured; on a negative return or NULL, throws.
    @inline(__always)
    static func call(_ operation: String, _ subject: @autoclosure () -> String, _ body: () -> Int32) throws(BPFError) -> Int32 {
        _ = installCapture
        vigil_libbpf_capture_reset()
        errno = 0
        let rc = body()
        if rc >= 0 { return rc }
        let code = rc == -1 && errno != 0 ? errno : -rc
        throw BPFError(operation: operation, subject: subject(), errno: code, libbpfLog: capturedOutput())
    }

    /// Pointer-returning variant: NULL (or a libbpf ERR_PTR) plus errno means failure.
    @inline(__always)
    static func pointer(_ operation: String, _ subject: @autoclosure () -> String, _ body: () -> OpaquePointer?) throws(BPFError) -> OpaquePointer {
        _ = installCapture
        vigil_libbpf_capture_reset()
        errno = 0
        let ptr = body()
        let code = errno
        if let ptr, libbpf_get_error(UnsafeRawPointer(ptr)) == 0 { return ptr }
        let err = ptr.map { Int32(-libbpf_get_error(UnsafeRawPointer($0))) } ?? (code != 0 ? code : EINVAL)
        throw BPFError(operation: operation, subject: subject(), errno: err, libbpfLog: capturedOutput())
    }

    static func capturedOutput() -> String {
        let cap = 64 * 1024
        return String(unsafeUninitializedCapacity: cap) { buf in
            buf.withMemoryRebound(to: CChar.self) { Int(min(vigil_libbpf_capture_copy($0.baseAddress, cap), cap - 1)) }
        }
    }

    static func describe(errno code: Int32) -> String {
        var buf = [CChar](repeating: 0, count: 256)
        libbpf_strerror(code, &buf, buf.count)
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: objects

    static func openObject(_ bytes: UnsafeRawBufferPointer, name: String) throws(BPFError) -> OpaquePointer {
        try name.withCString { cname in
            let opts = ZeroedOpts<bpf_object_open_opts>()
            opts.pointer.pointee.sz = MemoryLayout<bpf_object_open_opts>.stride
            opts.pointer.pointee.object_name = cname
            return Result { () throws(BPFError) in
                try pointer("bpf_object__open_mem", "object \(name)") { bpf_object__open_mem(bytes.baseAddress, bytes.count, opts.pointer) }
            }
        }.get()
    }

    /// VIGIL_VERIFIER_STATS=1: each program's verification cost as the kernel reports it
    /// (time, instructions processed of the 1,000,000 budget, states), one line on stderr per
    /// program: what a policy costs to load (BENCHMARKS.md, "Policy load time").
    static let verifierStats = getenv("VIGIL_VERIFIER_STATS") != nil

    static func loadObject(_ obj: OpaquePointer, name: String) throws(BPFError) {
        var logs: [(OpaquePointer, UnsafeMutablePointer<CChar>)] = []
        if verifierStats {
            for p in programs(of: obj) where bpf_program__autoload(p) {
                let size = 1 << 16  // the kernel fails a load whose log overflows its buffer (ENOSPC)
                let buf = UnsafeMutablePointer<CChar>.allocate(capacity: size)
                buf[0] = 0
                bpf_program__set_log_buf(p, buf, size)
                bpf_program__set_log_level(p, 4)  // BPF_LOG_STATS
                logs.append((p, buf))
            }
        }
        defer {
            for (p, buf) in logs {
                let stats = String(cString: buf).split(separator: "\n").joined(separator: "; ")
                let line = "verifier: object \(name) program \(programName(p)): \(stats)\n"
                _ = line.withCString { write(2, $0, strlen($0)) }
                buf.deallocate()
            }
        }
        _ = try call("bpf_object__load", "object \(name)") { bpf_object__load(obj) }
    }

    static func closeObject(_ obj: OpaquePointer) { bpf_object__close(obj) }

    static func programs(of obj: OpaquePointer) -> [OpaquePointer] {
        var out: [OpaquePointer] = []
        var prog = bpf_object__next_program(obj, nil)
        while let p = prog {
            out.append(p)
            prog = bpf_object__next_program(obj, p)
        }
        return out
    }

    static func maps(of obj: OpaquePointer) -> [OpaquePointer] {
        var out: [OpaquePointer] = []
        var map = bpf_object__next_map(obj, nil)
        while let m = map {
            out.append(m)
            map = bpf_object__next_map(obj, m)
        }
        return out
    }

    static func datasecVariable(_ obj: OpaquePointer, section: String, variable: String) -> (offset: Int, size: Int)? {
        var offset: UInt32 = 0
        var size: UInt32 = 0
        guard vigil_btf_datasec_var(obj, section, variable, &offset, &size) == 0 else { return nil }
        return (Int(offset), Int(size))
    }

    // MARK: programs

    static func programName(_ prog: OpaquePointer) -> String { String(cString: bpf_program__name(prog)) }
    static func programSection(_ prog: OpaquePointer) -> String { String(cString: bpf_program__section_name(prog)) }
    static func programFD(_ prog: OpaquePointer) -> Int32 { bpf_program__fd(prog) }

    /// The kernel's run statistics of a loaded program (counted only while the sysctl
    /// kernel.bpf_stats_enabled is 1).
    static func programRunStats(fd: Int32, subject: String) throws(BPFError) -> (runTimeNs: UInt64, runCount: UInt64) {
        var info = bpf_prog_info()
        var len = UInt32(MemoryLayout<bpf_prog_info>.size)
        _ = try call("bpf_obj_get_info_by_fd", subject) { bpf_obj_get_info_by_fd(fd, &info, &len) }
        return (info.run_time_ns, info.run_cnt)
    }

    /// A loaded map's capacity (max_entries), from the kernel.
    static func mapMaxEntries(fd: Int32, subject: String) throws(BPFError) -> UInt32 {
        var info = bpf_map_info()
        var len = UInt32(MemoryLayout<bpf_map_info>.size)
        _ = try call("bpf_obj_get_info_by_fd", subject) { bpf_obj_get_info_by_fd(fd, &info, &len) }
        return info.max_entries
    }

    static func setAutoload(_ prog: OpaquePointer, _ on: Bool, subject: String) throws(BPFError) {
        _ = try call("bpf_program__set_autoload", subject) { bpf_program__set_autoload(prog, on) }
    }

    static func setAttachTarget(_ prog: OpaquePointer, function: String, subject: String) throws(BPFError) {
        _ = try call("bpf_program__set_attach_target", subject) { bpf_program__set_attach_target(prog, 0, function) }
    }

    static func attach(_ prog: OpaquePointer, subject: String) throws(BPFError) -> OpaquePointer {
        try pointer("bpf_program__attach", subject) { bpf_program__attach(prog) }
    }

    static func attachTracepoint(_ prog: OpaquePointer, category: String, name: String, subject: String) throws(BPFError) -> OpaquePointer {
        try pointer("bpf_program__attach_tracepoint", subject) { bpf_program__attach_tracepoint(prog, category, name) }
    }

    static func attachRawTracepoint(_ prog: OpaquePointer, name: String, subject: String) throws(BPFError) -> OpaquePointer {
        try pointer("bpf_program__attach_raw_tracepoint", subject) { bpf_program__attach_raw_tracepoint(prog, name) }
    }

    static func attachKprobe(_ prog: OpaquePointer, function: String, retprobe: Bool, subject: String) throws(BPFError) -> OpaquePointer {
        try pointer("bpf_program__attach_kprobe", subject) { bpf_program__attach_kprobe(prog, retprobe, function) }
    }

    /// Every process mapping `binary`: by `function` (its ELF symbol, which libbpf resolves to a
    /// file offset, plus `offset` into it) or, with no function, at file offset `offset`.
    static func attachUprobe(_ prog: OpaquePointer, binary: String, function: String?, offset: UInt64, subject: String) throws(BPFError) -> OpaquePointer {
        try pointer("bpf_program__attach_uprobe_opts", subject) {
            var opts = bpf_uprobe_opts()
            opts.sz = MemoryLayout<bpf_uprobe_opts>.size
            guard let function else { return bpf_program__attach_uprobe_opts(prog, -1, binary, Int(offset), &opts) }
            return function.withCString { name in
                opts.func_name = name
                return bpf_program__attach_uprobe_opts(prog, -1, binary, Int(offset), &opts)
            }
        }
    }

    static func attachTrace(_ prog: OpaquePointer, subject: String) throws(BPFError) -> OpaquePointer {
        try pointer("bpf_program__attach_trace", subject) { bpf_program__attach_trace(prog) }
    }

    static func attachLSM(_ prog: OpaquePointer, subject: String) throws(BPFError) -> OpaquePointer {
        try pointer("bpf_program__attach_lsm", subject) { bpf_program__attach_lsm(prog) }
    }

    static func attachCgroup(_ prog: OpaquePointer, cgroupFD: Int32, subject: String) throws(BPFError) -> OpaquePointer {
        try pointer("bpf_program__attach_cgroup", subject) { bpf_program__attach_cgroup(prog, cgroupFD) }
    }

    /// tcx (Linux 6.6+): a BPF link through the generic link_create with BPF_TCX_INGRESS (46)
    /// or BPF_TCX_EGRESS (47); libbpf 1.1 predates the named attach types.
    static func linkCreate(programFD: Int32, targetFD: Int32, attachType: UInt32, subject: String) throws(BPFError) -> Int32 {
        try call("bpf_link_create", subject) {
            bpf_link_create(programFD, targetFD, bpf_attach_type(rawValue: attachType), nil)
        }
    }

    static func destroyLink(_ link: OpaquePointer) { _ = bpf_link__destroy(link) }

    /// Detaches a link in the kernel now (BPF_LINK_DETACH), whoever else holds it: closing the
    /// last descriptor or pin only schedules the release, so the program may run a moment longer.
    static func detachLink(fd: Int32) { _ = bpf_link_detach(fd) }

    /// Makes destroying the libbpf link leave the kernel link attached (it stays by its pin).
    static func disconnectLink(_ link: OpaquePointer) { bpf_link__disconnect(link) }

    /// Swaps the program behind an attached link, atomically (no gap in which nothing runs).
    static func linkUpdate(linkFD: Int32, programFD: Int32, subject: String) throws(BPFError) {
        _ = try call("bpf_link_update", subject) { bpf_link_update(linkFD, programFD, nil) }
    }

    static func pinLink(_ link: OpaquePointer, path: String, subject: String) throws(BPFError) {
        _ = try call("bpf_link__pin", subject) { bpf_link__pin(link, path) }
    }

    // MARK: tc

    /// A heap-allocated, fully zeroed libbpf opts struct. libbpf rejects opts whose bytes past
    /// the last field it knows are non-zero, and Swift does not promise to zero padding.
    final class ZeroedOpts<T> {
        let pointer: UnsafeMutablePointer<T>
        init() {
            let raw = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<T>.stride, alignment: MemoryLayout<T>.alignment)
            raw.initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<T>.stride)
            pointer = raw.bindMemory(to: T.self, capacity: 1)
        }
        deinit { pointer.deallocate() }
    }

    static func tcHook(ifindex: Int32, ingress: Bool) -> ZeroedOpts<bpf_tc_hook> {
        let hook = ZeroedOpts<bpf_tc_hook>()
        hook.pointer.pointee.sz = MemoryLayout<bpf_tc_hook>.stride
        hook.pointer.pointee.ifindex = ifindex
        hook.pointer.pointee.attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS
        return hook
    }

    /// Creates the clsact qdisc; returns false when it already existed (EEXIST).
    static func tcHookCreate(_ hook: ZeroedOpts<bpf_tc_hook>, subject: String) throws(BPFError) -> Bool {
        do {
            _ = try call("bpf_tc_hook_create", subject) { bpf_tc_hook_create(hook.pointer) }
            return true
        } catch  where error.errno == EEXIST {
            return false
        }
    }

    /// Removes the clsact qdisc (both directions) and every filter on it.
    static func tcHookDestroy(_ hook: ZeroedOpts<bpf_tc_hook>) {
        let all = ZeroedOpts<bpf_tc_hook>()
        all.pointer.pointee.sz = MemoryLayout<bpf_tc_hook>.stride
        all.pointer.pointee.ifindex = hook.pointer.pointee.ifindex
        all.pointer.pointee.attach_point = bpf_tc_attach_point(rawValue: BPF_TC_INGRESS.rawValue | BPF_TC_EGRESS.rawValue)
        _ = bpf_tc_hook_destroy(all.pointer)
    }

    static func tcAttach(_ hook: ZeroedOpts<bpf_tc_hook>, programFD: Int32, handle: UInt32, priority: UInt32, replace: Bool, subject: String) throws(BPFError) {
        let opts = ZeroedOpts<bpf_tc_opts>()
        opts.pointer.pointee.sz = MemoryLayout<bpf_tc_opts>.stride
        opts.pointer.pointee.prog_fd = programFD
        opts.pointer.pointee.handle = handle
        opts.pointer.pointee.priority = priority
        opts.pointer.pointee.flags = replace ? UInt32(BPF_TC_F_REPLACE.rawValue) : 0
        _ = try call("bpf_tc_attach", subject) { bpf_tc_attach(hook.pointer, opts.pointer) }
    }

    static func tcDetach(_ hook: ZeroedOpts<bpf_tc_hook>, handle: UInt32, priority: UInt32) {
        let opts = ZeroedOpts<bpf_tc_opts>()
        opts.pointer.pointee.sz = MemoryLayout<bpf_tc_opts>.stride
        opts.pointer.pointee.handle = handle
        opts.pointer.pointee.priority = priority
        _ = bpf_tc_detach(hook.pointer, opts.pointer)
    }

    // MARK: maps

    static func mapName(_ map: OpaquePointer) -> String { String(cString: bpf_map__name(map)) }
    static func mapFD(_ map: OpaquePointer) -> Int32 { bpf_map__fd(map) }
    static func mapKeySize(_ map: OpaquePointer) -> Int { Int(bpf_map__key_size(map)) }
    static func mapValueSize(_ map: OpaquePointer) -> Int { Int(bpf_map__value_size(map)) }
    static func mapType(_ map: OpaquePointer) -> UInt32 { bpf_map__type(map).rawValue }

    static func reuseFD(_ map: OpaquePointer, fd: Int32, subject: String) throws(BPFError) {
        _ = try call("bpf_map__reuse_fd", subject) { bpf_map__reuse_fd(map, fd) }
    }

    static func setMaxEntries(_ map: OpaquePointer, _ n: UInt32, subject: String) throws(BPFError) {
        _ = try call("bpf_map__set_max_entries", subject) { bpf_map__set_max_entries(map, n) }
    }

    static func initialValue(_ map: OpaquePointer) -> UnsafeMutableRawBufferPointer? {
        var size = 0
        guard let p = bpf_map__initial_value(map, &size) else { return nil }
        return UnsafeMutableRawBufferPointer(start: UnsafeMutableRawPointer(mutating: p), count: size)
    }

    static func mapCreate(type: UInt32, name: String, keySize: UInt32, valueSize: UInt32, maxEntries: UInt32, flags: UInt32) throws(BPFError) -> Int32 {
        let opts = ZeroedOpts<bpf_map_create_opts>()
        opts.pointer.pointee.sz = MemoryLayout<bpf_map_create_opts>.stride
        opts.pointer.pointee.map_flags = flags
        return try call("bpf_map_create", "map \(name)") {
            bpf_map_create(bpf_map_type(rawValue: type), name, keySize, valueSize, maxEntries, opts.pointer)
        }
    }

    static func mapLookup(fd: Int32, key: UnsafeRawPointer, value: UnsafeMutableRawPointer, subject: String) throws(BPFError) -> Bool {
        do {
            _ = try call("bpf_map_lookup_elem", subject) { bpf_map_lookup_elem(fd, key, value) }
            return true
        } catch  where error.errno == ENOENT {
            return false
        }
    }

    static func mapUpdate(fd: Int32, key: UnsafeRawPointer, value: UnsafeRawPointer, flags: UInt64, subject: String) throws(BPFError) {
        _ = try call("bpf_map_update_elem", subject) { bpf_map_update_elem(fd, key, value, flags) }
    }

    static func mapDelete(fd: Int32, key: UnsafeRawPointer, subject: String) throws(BPFError) -> Bool {
        do {
            _ = try call("bpf_map_delete_elem", subject) { bpf_map_delete_elem(fd, key) }
            return true
        } catch  where error.errno == ENOENT {
            return false
        }
    }

    static func mapNextKey(fd: Int32, key: UnsafeRawPointer?, next: UnsafeMutableRawPointer, subject: String) throws(BPFError) -> Bool {
        do {
            _ = try call("bpf_map_get_next_key", subject) { bpf_map_get_next_key(fd, key, next) }
            return true
        } catch  where error.errno == ENOENT {
            return false
        }
    }

    static func objPin(fd: Int32, path: String, subject: String) throws(BPFError) {
        _ = try call("bpf_obj_pin", subject) { bpf_obj_pin(fd, path) }
    }

    /// A new descriptor (close-on-exec) for the kernel object behind `fd`.
    static func duplicate(fd: Int32, subject: String) throws(BPFError) -> Int32 {
        let new = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard new >= 0 else { throw BPFError(operation: "fcntl(F_DUPFD_CLOEXEC)", subject: subject, errno: errno) }
        return new
    }

    static func linkFD(_ link: OpaquePointer) -> Int32 { bpf_link__fd(link) }

    static func objGet(path: String) throws(BPFError) -> Int32 {
        try call("bpf_obj_get", "pinned object \(path)") { bpf_obj_get(path) }
    }

    // MARK: ring buffers

    typealias SampleCallback = @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, Int) -> Int32

    static func ringBufferNew(fd: Int32, callback: SampleCallback, context: UnsafeMutableRawPointer, subject: String) throws(BPFError) -> OpaquePointer {
        try pointer("ring_buffer__new", subject) { ring_buffer__new(fd, callback, context, nil) }
    }

    static func ringBufferAdd(_ rb: OpaquePointer, fd: Int32, callback: SampleCallback, context: UnsafeMutableRawPointer, subject: String) throws(BPFError) {
        _ = try call("ring_buffer__add", subject) { ring_buffer__add(rb, fd, callback, context) }
    }

    /// What a record callback returns to stop the drain early; poll and consume then return 0.
    static let ringBufferStop: Int32 = -ECANCELED

    static func ringBufferPoll(_ rb: OpaquePointer, timeoutMs: Int32) throws(BPFError) -> Int32 {
        do {
            return try call("ring_buffer__poll", "ring buffer") { ring_buffer__poll(rb, timeoutMs) }
        } catch  where error.errno == EINTR || error.errno == ECANCELED {
            return 0
        }
    }

    static func ringBufferConsume(_ rb: OpaquePointer) throws(BPFError) -> Int32 {
        do {
            return try call("ring_buffer__consume", "ring buffer") { ring_buffer__consume(rb) }
        } catch  where error.errno == ECANCELED {
            return 0
        }
    }

    static func ringBufferEpollFD(_ rb: OpaquePointer) -> Int32 { ring_buffer__epoll_fd(rb) }
    static func ringBufferFree(_ rb: OpaquePointer) { ring_buffer__free(rb) }

    /// Possible CPUs (per-CPU map values hold one slot per possible CPU).
    static func possibleCPUs() -> Int { Int(max(libbpf_num_possible_cpus(), 1)) }

    // MARK: probes and BTF

    static func probeMapType(_ type: UInt32) -> Int32 { libbpf_probe_bpf_map_type(bpf_map_type(rawValue: type), nil) }
    static func probeProgramType(_ type: UInt32) -> Int32 { libbpf_probe_bpf_prog_type(bpf_prog_type(rawValue: type), nil) }

    static func loadVmlinuxBTF() throws(BPFError) -> OpaquePointer {
        try pointer("btf__load_vmlinux_btf", "kernel BTF") { btf__load_vmlinux_btf() }
    }

    static func freeBTF(_ btf: OpaquePointer) { btf__free(btf) }

    /// Whether `btf` has a FUNC named `name` (what fentry/fexit/LSM attach to).
    static func btfHasFunction(_ btf: OpaquePointer, _ name: String) -> Bool {
        let btfKindFunc: UInt32 = 12  // BTF_KIND_FUNC
        return btf__find_by_name_kind(btf, name, btfKindFunc) > 0
    }
}
