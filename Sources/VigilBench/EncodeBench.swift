import AgentCore
import CVigilABI
import EventJSON
import Foundation
import Sensors

/// `vigil-bench encode [EVENTS]`: the JSON encoder alone, on the event the throughput bench
/// posts (a process_tracepoint with process and parent), so encoder changes can be measured
/// to a few percent without the kernel, the ring buffer or the file in the way.
func encodeBench(events: Int) {
    var process = ProcessEntry(
        id: ExecIdentity(ktime: 123_456_789_000, pid: 4242), parent: ExecIdentity(ktime: 99_000, pid: 4000), binary: "/usr/local/bin/vigil-bench")
    process.arguments = "throughput 5 30 150000,200000"
    process.cwd = "/work/main"
    process.flags = [.execve, .clone]
    process.uid = 0
    process.caps = CapabilitySets(permitted: 0x1ff_ffff_ffff, effective: 0x1ff_ffff_ffff, inheritable: 0)
    process.namespaces = Namespaces(inodes: [
        4_026_531_838, 4_026_531_839, 4_026_531_841, 4_026_531_836, 4_026_531_836, 4_026_531_840, 4_026_531_834, 4_026_531_834, 4_026_531_835, 4_026_531_837,
    ])
    process.cgroupPath = "/user.slice/user-0.slice/session-1.scope"
    var parent = ProcessEntry(id: ExecIdentity(ktime: 99_000, pid: 4000), parent: nil, binary: "/bin/bash")
    parent.flags = [.procFS]
    parent.namespaces = process.namespaces
    let encoder = EventEncoder(nodeName: "bench-node", hostNamespaces: process.namespaces, includeCredentials: false, includeNamespaces: false)
    var buffer: [UInt8] = []
    buffer.reserveCapacity(2 << 20)
    var bytes = 0
    for round in 0..<3 {
        let t0 = now()
        for i in 0..<events {
            let event = HookEvent(
                family: .tracepoint, process: process, parent: parent, functionName: "", subsystem: "syscalls",
                event: "sys_enter_getppid", args: [], action: "KPROBE_ACTION_POST", policyName: "bench-every-getppid",
                message: nil, tags: [], timeNs: 1_795_000_000_000_000_000 + UInt64(i) * 5_000)
            encoder.encode(event, into: &buffer)
            if buffer.count > 1 << 20 {
                bytes += buffer.count
                buffer.removeAll(keepingCapacity: true)
            }
        }
        let ns = Double(now() - t0) / Double(events)
        print(
            String(
                format: "round %d: %.0f ns per event (%d events, %.0f bytes each)", round + 1, ns, events,
                Double(bytes + buffer.count) / Double(events * (round + 1))))
    }
}

/// `vigil-bench process-events [SPAWNS]`: the agent's user-space work per fork+exec+exit of a
/// new process, without the kernel: the exec record's decoding, the process cache's fork, exec
/// and exit steps (the agent's own calls), and the exec and exit JSON lines. Every spawn is a
/// new image, so the process object is built each time (the hook bench above reuses one). The
/// exec record is decoded from kernel-layout bytes as the agent receives it. The agent's CPU per spawn in
/// `exec-overhead` is this plus the ring buffer's reading and the write.
func processEventsBench(spawns: Int) {
    var shell = ProcessEntry(id: ExecIdentity(ktime: 99_000, pid: 4000), parent: nil, binary: "/bin/bash")
    shell.flags = [.procFS]
    shell.namespaces = Namespaces(inodes: [
        4_026_531_838, 4_026_531_839, 4_026_531_841, 4_026_531_836, 4_026_531_836, 4_026_531_840, 4_026_531_834, 4_026_531_834, 4_026_531_835, 4_026_531_837,
    ])
    shell.caps = CapabilitySets(permitted: 0x1ff_ffff_ffff, effective: 0x1ff_ffff_ffff, inheritable: 0)
    // the agent's defaults (Tetragon's): no credentials or namespaces unless asked for
    let encoder = EventEncoder(nodeName: "bench-node", hostNamespaces: shell.namespaces, includeCredentials: false, includeNamespaces: false)
    var buffer: [UInt8] = []
    buffer.reserveCapacity(2 << 20)
    var bytes = 0
    // the baseline, measured in the same run: what the spawn being described costs here
    let spawn = spawnLoop(2000)
    // an exec record as the kernel writes it for `/usr/bin/true --version` run by the shell;
    // each spawn patches its identity and pid
    var r = vigil_exec_record()
    r.header.kind = VIGIL_RECORD_EXEC
    r.header.size = UInt32(MemoryLayout<vigil_exec_record>.size)
    r.parent = vigil_exec_id(ktime: shell.id.ktime, pid: shell.id.pid, pad: 0)
    r.ppid = shell.pid
    r.auid = .max
    r.cap_permitted = shell.caps.permitted
    r.cap_effective = shell.caps.effective
    withUnsafeMutableBytes(of: &r.ns) { ns in
        for (i, inode) in shell.namespaces.inodes.enumerated() { ns.storeBytes(of: inode, toByteOffset: i * 4, as: UInt32.self) }
    }
    var record = [UInt8](repeating: 0, count: MemoryLayout<vigil_exec_record>.size)
    record.withUnsafeMutableBytes { $0.storeBytes(of: r, as: vigil_exec_record.self) }
    func put(_ text: String, at offset: Int) { for (i, b) in text.utf8.enumerated() { record[offset + i] = b } }
    put("/user.slice/user-0.slice/session-1.scope", at: MemoryLayout<vigil_exec_record>.offset(of: \.cgroup_path)!)
    put("/usr/bin/true", at: MemoryLayout<vigil_exec_record>.offset(of: \.binary)!)
    put("/work/main", at: MemoryLayout<vigil_exec_record>.offset(of: \.cwd)!)
    put("/usr/bin/true\0--version\0", at: MemoryLayout<vigil_exec_record>.offset(of: \.args)!)
    record.withUnsafeMutableBytes { $0.storeBytes(of: UInt16(24), toByteOffset: MemoryLayout<vigil_exec_record>.offset(of: \.args_len)!, as: UInt16.self) }
    let idOffset = MemoryLayout<vigil_exec_record>.offset(of: \.id)!
    let pidOffset = MemoryLayout<vigil_exec_record>.offset(of: \.pid)!  // pid, then tid
    for round in 0..<3 {
        var cache = ProcessCache()
        cache.insert(shell)
        let t0 = now()
        for i in 0..<spawns {
            let pid = UInt32(10_000 + i % 30_000)
            let forkTime = 1_000_000_000 + UInt64(i) * 1_000
            // fork: the clone runs the shell's image
            cache.recordFork(child: ExecIdentity(ktime: forkTime, pid: pid), kernelParent: shell.id, pid: pid, startTimeNs: forkTime)
            // exec: the kernel's record decoded, then a new image replaces the clone
            record.withUnsafeMutableBytes { raw in
                raw.storeBytes(of: forkTime + 300, toByteOffset: idOffset, as: UInt64.self)
                raw.storeBytes(of: pid, toByteOffset: idOffset + 8, as: UInt32.self)
                raw.storeBytes(of: pid, toByteOffset: pidOffset, as: UInt32.self)
                raw.storeBytes(of: pid, toByteOffset: pidOffset + 4, as: UInt32.self)
            }
            guard case .exec(let decoded)? = record.withUnsafeBytes({ try? ProcessRecord.decode($0) }) else { fatalError("exec record did not decode") }
            var exec = decoded.entry
            exec.startTimeNs = 1_795_000_000_000_000_000 + forkTime
            exec = cache.recordExec(exec, kernelParent: decoded.parent)
            encoder.encode(ProcessExecEvent(process: exec, parent: cache.parent(of: exec), ancestors: [], timeNs: exec.startTimeNs + 300), into: &buffer)
            // exit
            if let process = cache.entry(exec.id) {
                encoder.encode(
                    ProcessExitEvent(process: process, parent: cache.parent(of: process), status: 0, signal: 0, timeNs: exec.startTimeNs + 900), into: &buffer)
                cache.markExited(process.id)
            }
            if buffer.count > 1 << 20 {
                bytes += buffer.count
                buffer.removeAll(keepingCapacity: true)
            }
        }
        if ProcessInfo.processInfo.environment["VIGIL_BENCH_SHOW"] != nil { print(String(decoding: buffer.prefix(3000), as: UTF8.self)) }
        let ns = Double(now() - t0) / Double(spawns)
        print(
            String(
                format:
                    "round %d: %.0f ns per spawn (fork+exec+exit, 2 JSON lines, %.0f bytes per spawn) = %.2f%% of a spawn of /bin/true here (%.0f us); cache %d entries",
                round + 1, ns, Double(bytes + buffer.count) / Double(spawns * (round + 1)), ns / spawn * 100, spawn / 1000, cache.count))
    }
}
