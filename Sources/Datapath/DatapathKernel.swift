import BPFKit
import BPFObjects
import CVigilABI
import Foundation
import KernelFeatures
import NetworkPolicy

/// The datapath's programs and maps in the kernel (bpf/progs/datapath.bpf.c): the one place
/// that writes its maps and attaches its programs. Everything above works with typed values
/// (identities, prefixes, policy entries).
public final class DatapathKernel {
    let object: BPFObject
    private var ownerLinks: [BPFLink] = []
    private var interfaceLinks: [Int32: [BPFLink]] = [:]
    private let useTCX: Bool

    /// Why the datapath cannot run on this kernel, or nil when it can.
    public static func unavailableReason(probe: FeatureProbe = .shared) -> String? {
        for f in [KernelFeature.tc, .cgroupSockAddr] where !probe.isSupported(f) {
            return "\(f) \(probe.status(f))"
        }
        return KernelFilesystems.cgroup2Root() == nil ? "no cgroup v2 mount in /proc/mounts" : nil
    }

    /// `events` / `processes`: the process sensor's ring buffer and process table, shared so
    /// flow records arrive in order with the execs they name; nil gives the datapath its own
    /// (tools and tests that run it alone).
    public init(events: BPFMap? = nil, processes: BPFMap? = nil, wakeupBytes: UInt64 = 256 * 1024, probe: FeatureProbe = .shared) throws(BPFError) {
        guard let bytes = BPFObjects.object(named: "datapath") else {
            throw BPFError(operation: "embedded object lookup", subject: "object datapath", errno: 2)
        }
        object = try BPFObject(bytes: bytes, name: "datapath")
        if let events { try object.map("events").reuse(events) }
        if let processes { try object.map("processes").reuse(processes) }
        try object.setRodata("wakeup_bytes", to: wakeupBytes)
        try object.load()
        useTCX = probe.isSupported(.tcx)
    }

    /// The ring buffer flow records go to (the shared one when given at init).
    public func eventsMap() throws(BPFError) -> BPFMap { try object.map("events") }

    /// Attaches the connect-time owner programs to the cgroup v2 root. Idempotent.
    public func attachOwners() throws(BPFError) {
        guard ownerLinks.isEmpty else { return }
        guard let root = KernelFilesystems.cgroup2Root() else {
            throw BPFError(operation: "attach", subject: "datapath owners: no cgroup v2 mount in /proc/mounts", errno: 2)
        }
        do throws(BPFError) {
            for name in ["dp_owner_connect4", "dp_owner_sendmsg4", "dp_owner_sockops"] {
                ownerLinks.append(try object.program(name).attachCgroup(path: root))
            }
        } catch {
            for l in ownerLinks { l.close() }
            ownerLinks.removeAll()
            throw error
        }
    }

    /// Puts the two tc programs on an endpoint's host-side interface (tcx where the kernel has it).
    public func attach(ifindex: Int32) throws(BPFError) {
        guard interfaceLinks[ifindex] == nil else { return }
        let from = try object.program("dp_from_endpoint"), to = try object.program("dp_to_endpoint")
        var links: [BPFLink] = []
        do throws(BPFError) {
            if useTCX {
                links.append(try from.attachTCX(ifindex: ifindex, ingress: true))
                links.append(try to.attachTCX(ifindex: ifindex, ingress: false))
            } else {
                links.append(try from.attachTC(ifindex: ifindex, ingress: true))
                links.append(try to.attachTC(ifindex: ifindex, ingress: false))
            }
        } catch {
            for l in links { l.close() }
            throw error
        }
        interfaceLinks[ifindex] = links
    }

    public func detach(ifindex: Int32) {
        for l in interfaceLinks[ifindex] ?? [] { l.close() }
        interfaceLinks[ifindex] = nil
    }

    public var attachedInterfaces: [Int32] { Array(interfaceLinks.keys) }

    public func detachAll() {
        for i in attachedInterfaces { detach(ifindex: i) }
        for l in ownerLinks { l.close() }
        ownerLinks.removeAll()
    }

    deinit { detachAll() }

    // MARK: maps

    public func setEndpoint(ifindex: Int32, id: UInt32, identity: Identity, enforce: Set<TrafficDirection>) throws(BPFError) {
        var info = vigil_endpoint_info()
        info.endpoint_id = id
        info.identity = identity.rawValue
        info.flags = (enforce.contains(.ingress) ? VIGIL_EPF_ENFORCE_INGRESS : 0) | (enforce.contains(.egress) ? VIGIL_EPF_ENFORCE_EGRESS : 0)
        try object.map("endpoints").update(UInt32(bitPattern: ifindex), info)
    }

    public func removeEndpoint(ifindex: Int32) throws(BPFError) {
        _ = try object.map("endpoints").delete(key: bytesOf(UInt32(bitPattern: ifindex)))
    }

    static func ipcacheKey(_ p: IPPrefix) -> vigil_ipcache_key {
        var k = vigil_ipcache_key()
        k.prefixlen = UInt32(32 + p.length)
        k.family = p.isIPv4 ? 4 : 6
        withUnsafeMutableBytes(of: &k.addr) { $0.copyBytes(from: p.address) }
        return k
    }

    public func setIPCache(_ prefix: IPPrefix, _ identity: Identity) throws(BPFError) {
        var v = vigil_ipcache_value()
        v.identity = identity.rawValue
        try object.map("ipcache").update(Self.ipcacheKey(prefix), v)
    }

    public func removeIPCache(_ prefix: IPPrefix) throws(BPFError) {
        _ = try object.map("ipcache").delete(key: bytesOf(Self.ipcacheKey(prefix)))
    }

    static func policyKey(_ e: PolicyEntry) -> vigil_policy_key {
        var k = vigil_policy_key()
        k.prefixlen = UInt32(VIGIL_POLICY_KEY_BITS_ANY_PROTO) + UInt32(e.match.bits)
        k.endpoint_id = e.endpoint
        k.direction = UInt8(e.direction == .ingress ? VIGIL_DIR_INGRESS : VIGIL_DIR_EGRESS)
        k.identity = e.identity.rawValue
        k.protocol = e.match.proto
        k.port = e.match.port.bigEndian
        return k
    }

    public func setPolicy(_ e: PolicyEntry) throws(BPFError) {
        var v = vigil_policy_value()
        v.verdict = UInt8(e.deny ? VIGIL_VERDICT_DENY : VIGIL_VERDICT_ALLOW)
        v.rule_id = e.ruleID
        try object.map("policy").update(Self.policyKey(e), v)
    }

    public func removePolicy(_ e: PolicyEntry) throws(BPFError) {
        _ = try object.map("policy").delete(key: bytesOf(Self.policyKey(e)))
    }

    /// Established flows are checked again once after a change of revision.
    public func setRevision(_ revision: UInt64) throws(BPFError) {
        var c = vigil_datapath_config()
        c.revision = revision
        try object.map("dp_config").update(UInt32(0), c)
    }

    /// Flows in the conntrack table (tests and status).
    public func trackedFlows() throws(BPFError) -> Int { try object.map("conntrack").keys().count }

    /// Flow records the kernel could not queue (ring buffer full), summed over CPUs.
    public func lostCount() throws(BPFError) -> UInt64 {
        let perCPU = try object.map("lost").lookupPerCPU(key: bytesOf(UInt32(0))) ?? []
        return perCPU.reduce(0) { $0 + $1.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }
    }
}

func bytesOf<T: BitwiseCopyable>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value) { [UInt8]($0) } }

extension DatapathKernel {
    /// The policy map key an entry is stored under (two entries with equal keys are one slot).
    static func policyKeyBytes(_ e: PolicyEntry) -> [UInt8] { bytesOf(policyKey(e)) }
}
