import BPFKit
import BPFObjects
import CVigilABI
import KernelFeatures

/// The network sensor (bpf/progs/network.bpf.c): TCP connect / accept / close, UDP
/// datagrams to new peers and DNS messages, with their owning process. Its records go to the process
/// sensor's ring buffer (shared by file descriptor), so they arrive after the exec they
/// refer to; the process table is shared the same way.
///
/// Every hook it uses exists on every kernel Vigil runs on (tp_btf, cgroup sock_addr and
/// cgroup_skb programs on the cgroup v2 root); no kprobe is needed. How accepts are seen
/// depends on the kernel: `AcceptHook`.
public final class NetworkSensor {
    let object: BPFObject
    private var links: [BPFLink] = []
    /// How accepts are seen (never `.auto`: resolved for this kernel).
    public let acceptHook: AcceptHook

    /// Why the sensor cannot run on this kernel, or nil when it can.
    public static func unavailableReason(probe: FeatureProbe = .shared) -> String? {
        for f in [KernelFeature.tpBTF, .tracepoint, .cgroupSockAddr, .cgroupSKB] where !probe.isSupported(f) {
            return "\(f) \(probe.status(f))"
        }
        return KernelFilesystems.cgroup2Root() == nil ? "no cgroup v2 mount in /proc/mounts" : nil
    }

    /// Scan detection: `scanThreshold` distinct TCP destinations (address, port) tried by one
    /// process within `scanWindowNs` make one process_scan event (0 turns it off).
    public init(
        shared: SharedKernelMaps, scanThreshold: UInt32 = 20, scanWindowNs: UInt64 = 5_000_000_000,
        acceptHook requested: AcceptHook = .auto, probe: FeatureProbe = .shared
    ) throws(BPFError) {
        acceptHook = try AcceptHook.resolve(requested, probe: probe)
        guard let bytes = BPFObjects.object(named: "network") else {
            throw BPFError(operation: "embedded object lookup", subject: "object network", errno: 2)
        }
        object = try BPFObject(bytes: bytes, name: "network")
        let unused = AcceptHook.allPrograms.subtracting(acceptHook.programs)
        try object.keepOnly(programs: Set(object.programs.map(\.name)).subtracting(unused))
        try shared.share(with: object)
        try object.setRodata("accept_at_handshake", to: UInt8(acceptHook == .handshake ? 1 : 0))
        try object.setRodata("scan_threshold", to: scanThreshold)
        try object.setRodata("scan_window_ns", to: max(scanWindowNs, 1))
        try object.load()
    }

    /// Attaches every program (cgroup ones to the cgroup v2 root). All or nothing. Idempotent.
    public func attach() throws(BPFError) {
        guard links.isEmpty else { return }
        do throws(BPFError) {
            for p in object.programs where p.fd >= 0 {  // loaded: one of the two accept ways is not
                if p.section.hasPrefix("cgroup") {  // cgroup/connect4, cgroup_skb/egress, ...
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

    /// Whether the kernel must be told of listeners older than the sensor (`seed(listeners:)`).
    public var needsListenerSeed: Bool { acceptHook == .handshake }

    /// Listeners that existed before the sensor was attached (the handshake tier learns later
    /// ones at listen()). Never overrides what the kernel recorded itself. Returns how many
    /// were added.
    @discardableResult
    public func seed(listeners: [ListeningSocket]) throws(BPFError) -> Int {
        let map = try object.map("listeners")
        var added = 0
        for l in listeners {
            var key = vigil_listener_key()
            key.netns = l.netns
            key.port = l.port
            withUnsafeMutableBytes(of: &key.addr) { $0.copyBytes(from: l.address.prefix(16)) }
            var value = vigil_listener()
            value.owner.process = vigil_exec_id(ktime: l.owner.ktime, pid: l.owner.pid, pad: 0)
            value.owner.pid = l.owner.pid
            value.owner.tid = l.owner.pid
            value.owner.uid = l.uid
            value.owner.sport = l.port
            if let p = l.ownerParent { value.parent = vigil_exec_id(ktime: p.ktime, pid: p.pid, pad: 0) }
            if try map.insertIfAbsent(key, value) { added += 1 }  // the kernel's own entry is newer
        }
        return added
    }

    /// Records the kernel could not queue (ring buffer full), summed over CPUs.
    public func lostCount() throws(BPFError) -> UInt64 {
        let perCPU = try object.map("lost").lookupPerCPU(key: bytesOf(UInt32(0))) ?? []
        return perCPU.reduce(0) { $0 + $1.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }
    }
}
