import BPFKit
import BPFObjects
import CVigilABI
import KernelFeatures

/// The network sensor (bpf/progs/network.bpf.c): TCP connect / accept / close, UDP
/// datagrams to new peers and DNS messages, with their owning process. Its records go to the process
/// sensor's ring buffer (shared by file descriptor), so they arrive after the exec they
/// refer to; the process table is shared the same way.
///
/// Every hook it uses exists on every kernel Vigil runs on (tp_btf, syscall tracepoints,
/// cgroup sock_addr programs on the cgroup v2 root); no kprobe is needed. Accepts are seen
/// at inet_csk_accept's return (fexit) where trampolines work, else at the accept syscalls'
/// exit tracepoints, which tax every syscall on the machine (see network.bpf.c).
public final class NetworkSensor {
    let object: BPFObject
    private var links: [BPFLink] = []
    /// How accepts are seen: "fexit/inet_csk_accept" or "tracepoint/syscalls/sys_exit_accept{,4}".
    public let acceptHook: String

    static let acceptByTrampoline = "net_accept_fexit"
    static let acceptByTracepoints: Set<String> = ["net_accept4", "net_accept"]

    /// Why the sensor cannot run on this kernel, or nil when it can.
    public static func unavailableReason(probe: FeatureProbe = .shared) -> String? {
        for f in [KernelFeature.tpBTF, .tracepoint, .cgroupSockAddr, .cgroupSKB] where !probe.isSupported(f) {
            return "\(f) \(probe.status(f))"
        }
        return KernelFilesystems.cgroup2Root() == nil ? "no cgroup v2 mount in /proc/mounts" : nil
    }

    /// Scan detection: `scanThreshold` distinct TCP destinations (address, port) tried by one
    /// process within `scanWindowNs` make one process_scan event (0 turns it off).
    public init(events: BPFMap, processes: BPFMap, wakeupBytes: UInt64, scanThreshold: UInt32 = 20, scanWindowNs: UInt64 = 5_000_000_000,
                probe: FeatureProbe = .shared) throws(BPFError) {
        guard let bytes = BPFObjects.object(named: "network") else {
            throw BPFError(operation: "embedded object lookup", subject: "object network", errno: 2)
        }
        object = try BPFObject(bytes: bytes, name: "network")
        let trampoline = probe.isSupported(.fexit) && KernelBTF.hasFunction("inet_csk_accept")
        let unused = trampoline ? Self.acceptByTracepoints : [Self.acceptByTrampoline]
        try object.keepOnly(programs: Set(object.programs.map(\.name)).subtracting(unused))
        acceptHook = trampoline ? "fexit/inet_csk_accept" : "tracepoint/syscalls/sys_exit_accept{,4}"
        try object.map("events").reuse(events)
        try object.map("processes").reuse(processes)
        try object.setRodata("wakeup_bytes", to: wakeupBytes)
        try object.setRodata("scan_threshold", to: scanThreshold)
        try object.setRodata("scan_window_ns", to: max(scanWindowNs, 1))
        try object.load()
    }

    /// Attaches every program (cgroup ones to the cgroup v2 root). All or nothing. Idempotent.
    public func attach() throws(BPFError) {
        guard links.isEmpty else { return }
        do throws(BPFError) {
            for p in object.programs where p.fd >= 0 { // loaded: one of the two accept ways is not
                if p.section.hasPrefix("cgroup") { // cgroup/connect4, cgroup_skb/egress, ...
                    guard let root = KernelFilesystems.cgroup2Root() else {
                        throw BPFError(operation: "attach", subject: "\(p.section): no cgroup v2 mount in /proc/mounts", errno: 2)
                    }
                    links.append(try p.attachCgroup(path: root))
                } else {
                    links.append(try p.attach())
                }
            }
        } catch {
            detach()
            throw error
        }
    }

    public func detach() {
        for l in links { l.close() }
        links.removeAll()
    }

    deinit { detach() }

    /// Records the kernel could not queue (ring buffer full), summed over CPUs.
    public func lostCount() throws(BPFError) -> UInt64 {
        let perCPU = try object.map("lost").lookupPerCPU(key: bytesOf(UInt32(0))) ?? []
        return perCPU.reduce(0) { $0 + $1.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }
    }
}
