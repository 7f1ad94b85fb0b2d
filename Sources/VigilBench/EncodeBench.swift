import AgentCore
import EventJSON
import Foundation

/// `vigil-bench encode [EVENTS]`: the JSON encoder alone, on the event the throughput bench
/// posts (a process_tracepoint with process and parent), so encoder changes can be measured
/// to a few percent without the kernel, the ring buffer or the file in the way.
func encodeBench(events: Int) {
    var process = ProcessEntry(id: ExecIdentity(ktime: 123_456_789_000, pid: 4242), parent: ExecIdentity(ktime: 99_000, pid: 4000), binary: "/usr/local/bin/vigil-bench")
    process.arguments = "throughput 5 30 150000,200000"
    process.cwd = "/work/main"
    process.flags = [.execve, .clone]
    process.uid = 0
    process.caps = CapabilitySets(permitted: 0x1ff_ffff_ffff, effective: 0x1ff_ffff_ffff, inheritable: 0)
    process.namespaces = Namespaces(inodes: [4_026_531_838, 4_026_531_839, 4_026_531_841, 4_026_531_836, 4_026_531_836, 4_026_531_840, 4_026_531_834, 4_026_531_834, 4_026_531_835, 4_026_531_837])
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
            let event = HookEvent(family: .tracepoint, process: process, parent: parent, functionName: "", subsystem: "syscalls",
                                  event: "sys_enter_getppid", args: [], action: "KPROBE_ACTION_POST", policyName: "bench-every-getppid",
                                  message: nil, tags: [], timeNs: 1_795_000_000_000_000_000 + UInt64(i) * 5_000)
            encoder.encode(.hook(event), into: &buffer)
            if buffer.count > 1 << 20 {
                bytes += buffer.count
                buffer.removeAll(keepingCapacity: true)
            }
        }
        let ns = Double(now() - t0) / Double(events)
        print(String(format: "round %d: %.0f ns per event (%d events, %.0f bytes each)", round + 1, ns, events, Double(bytes + buffer.count) / Double(events * (round + 1))))
    }
}
