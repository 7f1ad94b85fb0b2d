import AgentCore
import BPFKit
import BPFObjects
import CVigilABI
import Foundation
import KernelFeatures

/// The always-on process sensor (bpf/progs/process.bpf.c): exec, fork and exit of every
/// process, and the kernel's process table.
///
/// Each event has a tp_btf program and a classic tracepoint twin; `load` keeps the tp_btf
/// ones where the kernel supports them, the tracepoints otherwise.
public final class ProcessSensor {
    /// How each event is hooked on this kernel.
    public let tier: String
    /// Unread ring-buffer bytes at which programs wake the reader early (a quarter of the ring).
    public let wakeupBytes: UInt64
    let object: BPFObject
    private var links: [BPFLink] = []

    /// Pins the sensor's links in `directory`, and its ring buffer as `events`: the process
    /// table the pinned enforcing hooks match binaries on stays current without this process,
    /// and the records written meanwhile can be counted by the next agent.
    public func pin(in directory: String) throws(BPFError) {
        for p in try pinnables() { try p.object.pin(at: "\(directory)/\(p.file)") }
    }

    /// What `pin(in:)` pins, through descriptors of their own: another thread (the agent's
    /// policy thread) pins them when a policy first enforces. Names are the pins' file names.
    public func pinnables() throws(BPFError) -> [(file: String, object: BPFPinnable)] {
        var out: [(file: String, object: BPFPinnable)] = []
        for (i, l) in links.enumerated() { out.append(("sensor-\(i)", try l.pinnable())) }
        out.append(("events", try object.map("events").pinnable()))
        return out
    }

    static let variants = (
        btf: ["process_exec_btf", "process_fork_btf", "process_exit_btf"],
        tracepoint: ["process_exec_tp", "process_fork_tp", "process_exit_tp"]
    )

    /// Opens, specializes and loads the sensor. `ringBufferBytes` is rounded up to a power of
    /// two of at least one page (the kernel requires it).
    public init(ringBufferBytes: Int = 8 * 1024 * 1024, useTracepoints: Bool? = nil, probe: FeatureProbe = .shared) throws(BPFError) {
        guard let bytes = BPFObjects.object(named: "process") else {
            throw BPFError(operation: "embedded object lookup", subject: "object process", errno: 2)
        }
        object = try BPFObject(bytes: bytes, name: "process")
        let classic = useTracepoints ?? !probe.isSupported(.tpBTF)
        tier = classic ? "tracepoint" : "tp_btf"
        try object.keepOnly(programs: Set(classic ? Self.variants.tracepoint : Self.variants.btf))
        var size = 4096
        while size < ringBufferBytes { size <<= 1 }
        try object.map("events").setMaxEntries(size)
        // Records go in without waking the reader (it polls every 100 ms) until a quarter of the ring is used.
        wakeupBytes = UInt64(size / 4)
        try object.setRodata("wakeup_bytes", to: wakeupBytes)
        try object.load()
        // Before any program runs: every path the kernel resolves is named from these roots.
        try refreshSuperBlockRoots()
    }

    /// Rewrites the kernel's table of where each file system's root is mounted (map
    /// `sb_roots`) from /proc/self/mountinfo. Called at load and whenever the mounts change.
    public func refreshSuperBlockRoots() throws(BPFError) {
        try SuperBlockRoots.write(SuperBlockRoots.current(), into: object.map("sb_roots"))
    }

    /// The table of file system roots, shared with policy hooks (vigil_resolve.h).
    public func superBlockRootsMap() throws(BPFError) -> BPFMap { try object.map("sb_roots") }

    /// Attaches every kept program. Idempotent.
    public func attach() throws(BPFError) {
        guard links.isEmpty else { return }
        for p in object.programs where p.fd >= 0 { links.append(try p.attach()) }
    }

    /// Detaches everything (also done on deinit).
    public func detach() {
        for l in links { l.close() }
        links.removeAll()
    }

    deinit { detach() }

    /// The ring buffer carrying exec, fork and exit records.
    public func eventsMap() throws(BPFError) -> BPFMap { try object.map("events") }

    /// The kernel's process table (tgid -> identity, parent, binary), shared with policy hooks.
    public func processesMap() throws(BPFError) -> BPFMap { try object.map("processes") }

    /// Records the kernel could not queue, by record kind, summed over CPUs.
    public func lostCounts() throws(BPFError) -> [UInt32: UInt64] {
        let map = try object.map("lost")
        var out: [UInt32: UInt64] = [:]
        for kind in [VIGIL_RECORD_EXEC, VIGIL_RECORD_EXIT, VIGIL_RECORD_FORK] {
            let perCPU = try map.lookupPerCPU(key: bytesOf(kind)) ?? []
            out[kind] = perCPU.reduce(0) { $0 + $1.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }
        }
        return out
    }

    /// Writes a process found in /proc into the kernel's table, so its children's exec
    /// records name it as parent and hooks judge its executable (path and identity, as the
    /// exec program would have written them).
    public func seed(_ entry: ProcessEntry) throws(BPFError) {
        var proc = vigil_process()
        proc.id = vigil_exec_id(ktime: entry.id.ktime, pid: entry.id.pid, pad: 0)
        if let p = entry.parent { proc.parent = vigil_exec_id(ktime: p.ktime, pid: p.pid, pad: 0) }
        proc.flags = UInt32(VIGIL_PROC_PROCFS)
        // /proc/PID/exe reads as the agent sees the file: the global path the kernel would give.
        var path = Array(entry.binary.utf8)
        proc.binary_full_len = UInt16(min(path.count, Int(UInt16.max)))
        let end = Int(VIGIL_PATH_END_BYTES)
        if path.count >= Int(VIGIL_PATH_LEN) {
            path = Array(path.prefix(end)) + Array(path.suffix(end))
            proc.flags |= UInt32(VIGIL_PROC_LONG_PATH)
            proc.binary_len = UInt32(VIGIL_PATH_LEN)
        } else {
            proc.binary_len = UInt32(path.count)
        }
        withUnsafeMutableBytes(of: &proc.binary) { raw in
            raw.copyBytes(from: path)
            if path.count < raw.count { raw[path.count] = 0 }
        }
        var st = stat()
        if stat("/proc/\(entry.pid)/exe", &st) == 0 {
            proc.binary_dev = SuperBlockRoots.kernelDevice(statDevice: UInt64(st.st_dev))
            proc.binary_ino = UInt64(st.st_ino)
        }
        try object.map("processes").update(entry.pid, proc)
    }
}

func bytesOf<T: BitwiseCopyable>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value) { [UInt8]($0) } }
