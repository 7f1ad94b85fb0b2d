import BPFKit
import BPFObjects
import CVigilABI
import Foundation
import KernelFeatures
import NetworkPolicy
import Sensors

/// The datapath's programs and maps in the kernel (bpf/progs/datapath.bpf.c): the one place
/// that writes its maps and attaches its programs. Everything above works with typed values
/// (identities, prefixes, policy entries).
public final class DatapathKernel {
    let object: BPFObject
    private var ownerLinks: [BPFLink] = []
    private var interfaceLinks: [Int32: [BPFLink]] = [:]
    private let useTCX: Bool
    /// bpffs directory holding the maps and tcx links that outlive the agent (nil: nothing
    /// persists; the datapath goes with the process).
    public let pinDirectory: String?

    /// The maps whose contents must survive an agent restart: what is enforced and the flows
    /// established under it. (The ring buffer and process table are the agent's own.)
    static let persistentMaps = [
        "endpoints", "ipcache", "policy", "dp_config", "conntrack", "flow_owners", "fqdn_names", "fqdn_label_patterns", "fqdn_ips",
    ]

    /// Why the datapath cannot run on this kernel, or nil when it can.
    public static func unavailableReason(probe: FeatureProbe = .shared) -> String? {
        for f in [KernelFeature.tc, .cgroupSockAddr] where !probe.isSupported(f) {
            return "\(f) \(probe.status(f))"
        }
        return KernelFilesystems.cgroup2Root() == nil ? "no cgroup v2 mount in /proc/mounts" : nil
    }

    /// `shared`: the process sensor's maps (ring buffer, process table), shared so flow records
    /// arrive in order with the execs they name; nil gives the datapath its own (tools and
    /// tests that run it alone).
    ///
    /// `pinDirectory`: maps pinned there by an earlier agent are taken over (so enforcement and
    /// conntrack carry on across a restart); a pin that no longer fits this object's map (an
    /// upgrade changed it) is replaced.
    public init(
        shared: SharedKernelMaps? = nil, pinDirectory: String? = nil,
        probe: FeatureProbe = .shared
    ) throws(BPFError) {
        guard let bytes = BPFObjects.object(named: "datapath") else {
            throw BPFError(operation: "embedded object lookup", subject: "object datapath", errno: 2)
        }
        object = try BPFObject(bytes: bytes, name: "datapath")
        self.pinDirectory = pinDirectory
        if let shared { try shared.share(with: object) } else { try object.setRodata("wakeup_bytes", to: UInt64(256 * 1024)) }
        var reused: Set<String> = []
        if let dir = pinDirectory {
            try Self.makeDirectory(dir + "/links")
            for name in Self.persistentMaps where FileManager.default.fileExists(atPath: "\(dir)/\(name)") {
                let map = try object.map(name)
                do {
                    try map.reuse(BPFMap.openPinned("\(dir)/\(name)", keySize: map.keySize, valueSize: map.valueSize))
                    reused.insert(name)
                } catch {
                    try? BPFMap.unpin("\(dir)/\(name)")  // does not fit this object: start that map afresh
                }
            }
        }
        try object.load()
        if let dir = pinDirectory {
            for name in Self.persistentMaps where !reused.contains(name) { try object.map(name).pin(at: "\(dir)/\(name)") }
        }
        resumed = !reused.isEmpty
        useTCX = probe.isSupported(.tcx)
    }

    /// Whether maps of an earlier agent were taken over (their stale entries are pruned on the first apply).
    public let resumed: Bool

    static func makeDirectory(_ path: String) throws(BPFError) {
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw BPFError(operation: "mkdir", subject: "\(path) (bpffs mounted at /sys/fs/bpf?)", errno: EIO)
        }
    }

    func linkPin(_ ifindex: Int32, ingress: Bool) -> String? {
        pinDirectory.map { "\($0)/links/\(ifindex)-\(ingress ? "ingress" : "egress")" }
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
        let from = try object.program("dp_from_endpoint")
        let to = try object.program("dp_to_endpoint")
        var links: [BPFLink] = []
        do throws(BPFError) {
            for (program, ingress) in [(from, true), (to, false)] {
                if !useTCX {
                    // a tc filter at the same handle/priority is replaced in place (an earlier agent's too)
                    links.append(try program.attachTC(ifindex: ifindex, ingress: ingress))
                } else if let pin = linkPin(ifindex, ingress: ingress), FileManager.default.fileExists(atPath: pin),
                    let old = try? BPFLink.openPinned(pin), (try? old.update(program)) != nil
                {
                    links.append(old)  // an earlier agent's link: now runs this program, no gap
                } else {
                    if let pin = linkPin(ifindex, ingress: ingress) { try? BPFMap.unpin(pin) }
                    let link = try program.attachTCX(ifindex: ifindex, ingress: ingress)
                    links.append(link)
                    if let pin = linkPin(ifindex, ingress: ingress) { try link.pin(at: pin) }
                }
            }
        } catch {
            for l in links { l.close() }
            for ingress in [true, false] { if let pin = linkPin(ifindex, ingress: ingress) { try? BPFMap.unpin(pin) } }
            throw error
        }
        interfaceLinks[ifindex] = links
    }

    /// Takes the programs off an interface (its endpoint is gone).
    public func detach(ifindex: Int32) {
        for ingress in [true, false] { if let pin = linkPin(ifindex, ingress: ingress) { try? BPFMap.unpin(pin) } }
        for l in interfaceLinks[ifindex] ?? [] { l.close() }
        interfaceLinks[ifindex] = nil
    }

    /// Lets go of everything without detaching (the agent stops; enforcement stays until the
    /// next agent takes over). Without a pin directory this detaches, as nothing could take over.
    public func release() {
        guard pinDirectory != nil else { return detachAll() }
        for (_, links) in interfaceLinks { for l in links { l.release() } }
        interfaceLinks.removeAll()
        for l in ownerLinks { l.close() }  // owners matter only while an agent reads flows
        ownerLinks.removeAll()
    }

    /// Detaches what an earlier agent left pinned for interfaces that are no longer endpoints.
    public func dropStaleLinks(keeping live: Set<Int32>) {
        guard let dir = pinDirectory else { return }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir + "/links")) ?? [] {
            guard let ifindex = Int32(name.split(separator: "-").first ?? ""), !live.contains(ifindex) else { continue }
            try? BPFMap.unpin("\(dir)/links/\(name)")  // the last reference: the tcx link detaches
        }
    }

    /// Deletes every key of `map` not in `keep` (entries an earlier agent wrote that no longer apply).
    func prune(_ map: String, keeping keep: Set<[UInt8]>) throws(BPFError) {
        let m = try object.map(map)
        for key in try m.keys() where !keep.contains(key) { _ = try m.delete(key: key) }
    }

    /// After taking over an earlier agent's maps: only what is wanted now stays.
    public func prune(policy: [PolicyEntry], ipcache: [IPPrefix], endpoints: [Int32], fqdnNames: [FQDNName]) throws(BPFError) {
        try prune("fqdn_names", keeping: Set(fqdnNames.filter { Self.labelGroup($0) == nil }.map { bytesOf(Self.fqdnNameKey($0)) }))
        try prune("fqdn_label_patterns", keeping: Set(fqdnNames.compactMap(Self.labelGroup).map { bytesOf(Self.labelGroupKey($0)) }))
        try prune("policy", keeping: Set(policy.map { bytesOf(Self.policyKey($0)) }))
        try prune("ipcache", keeping: Set(ipcache.map { bytesOf(Self.ipcacheKey($0)) }))
        try prune("endpoints", keeping: Set(endpoints.map { bytesOf(UInt32(bitPattern: $0)) }))
    }

    /// Removes a datapath an agent left in force (`vigil netpolicy reset`): detaches its
    /// programs from every endpoint interface it knew and removes the pins.
    public static func reset(pinDirectory dir: String) throws(BPFError) {
        if let endpoints = try? BPFMap.openPinned("\(dir)/endpoints", keySize: 4, valueSize: MemoryLayout<vigil_endpoint_info>.size) {
            for key in (try? endpoints.keys()) ?? [] {
                let ifindex = key.withUnsafeBytes { Int32(bitPattern: $0.loadUnaligned(as: UInt32.self)) }
                for ingress in [true, false] { BPFLink.detachTC(ifindex: ifindex, ingress: ingress) }
            }
        }
        // Pinned tcx links: detached now, not when the unpinned link's release gets round to it
        // (the command promises nothing is enforced once it returns).
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/links")) ?? [] {
            (try? BPFLink.openPinned("\(dir)/links/\(name)"))?.close()
        }
        for sub in ["links", ""] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/\(sub)")) ?? [] where name != "links" {
                try? BPFMap.unpin(sub.isEmpty ? "\(dir)/\(name)" : "\(dir)/\(sub)/\(name)")
            }
        }
        _ = rmdir(dir + "/links")
        _ = rmdir(dir)
    }

    public var attachedInterfaces: [Int32] { Array(interfaceLinks.keys) }

    public func detachAll() {
        for i in attachedInterfaces { detach(ifindex: i) }
        for l in ownerLinks { l.close() }
        ownerLinks.removeAll()
    }

    deinit { detachAll() }

    // MARK: maps

    public func setEndpoint(ifindex: Int32, id: UInt32, identity: Identity, defaults: EndpointDefaults) throws(BPFError) {
        var info = vigil_endpoint_info()
        info.endpoint_id = id
        info.identity = identity.rawValue
        info.flags = defaults.flags
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
        v.verdict = UInt8(e.deny ? (e.audit ? VIGIL_VERDICT_AUDIT_DENY : VIGIL_VERDICT_DENY) : VIGIL_VERDICT_ALLOW)
        v.rule_id = e.ruleID
        v.flags = e.dns ? UInt8(VIGIL_POLICY_F_DNS) : 0
        try object.map("policy").update(Self.policyKey(e), v)
    }

    public func removePolicy(_ e: PolicyEntry) throws(BPFError) {
        _ = try object.map("policy").delete(key: bytesOf(Self.policyKey(e)))
    }

    /// Established flows are checked again once after a change of revision.
    public func setRevision(_ revision: UInt64) throws(BPFError) {
        var c = vigil_datapath_config()
        c.revision = revision
        c.fqdn_min_ttl_ns = fqdnMinTTLSeconds &* 1_000_000_000
        try object.map("dp_config").update(UInt32(0), c)
    }

    /// A learned DNS answer allows its address for at least this long (Cilium's
    /// --tofqdns-min-ttl; its default). Written with the next revision.
    public var fqdnMinTTLSeconds: UInt64 = 3600

    static func fqdnNameKey(_ n: FQDNName) -> vigil_fqdn_name_key {
        var k = vigil_fqdn_name_key()
        k.endpoint_id = n.endpoint
        withUnsafeMutableBytes(of: &k.name) { buf in
            let bytes = Array(n.selector.key.utf8.prefix(Int(VIGIL_FQDN_NAME_MAX) - 1))
            buf.copyBytes(from: bytes)
        }
        return k
    }

    public func setFQDNName(_ n: FQDNName, _ selector: Identity) throws(BPFError) {
        if let group = Self.labelGroup(n) {
            labelGroups[group, default: [:]][n.selector.key] = selector.rawValue
            return try writeLabelGroup(group)
        }
        try object.map("fqdn_names").update(Self.fqdnNameKey(n), selector.rawValue)
    }

    /// Patterns with `*` inside the first label, by (endpoint, "?" + the rest of the name): the
    /// kernel's map holds each group whole, so a change rewrites it.
    private var labelGroups: [String: [String: UInt32]] = [:]

    /// The group a first-label pattern belongs to: its key's name, "?.example.com".
    static func labelGroup(_ n: FQDNName) -> String? {
        n.selector.labelPattern.map { "\(n.endpoint)/?\($0.rest)" }
    }

    private static func labelGroupKey(_ group: String) -> vigil_fqdn_name_key {
        let parts = group.split(separator: "/", maxSplits: 1)
        var k = vigil_fqdn_name_key()
        k.endpoint_id = UInt32(parts[0]) ?? 0
        withUnsafeMutableBytes(of: &k.name) { $0.copyBytes(from: Array(parts[1].utf8.prefix(Int(VIGIL_FQDN_NAME_MAX) - 1))) }
        return k
    }

    private func writeLabelGroup(_ group: String) throws(BPFError) {
        precondition(FQDNSelector.affixMaxLength == Int(VIGIL_FQDN_AFFIX_MAX), "FQDNSelector.affixMaxLength is the kernel's VIGIL_FQDN_AFFIX_MAX")
        let map = try object.map("fqdn_label_patterns")
        let key = Self.labelGroupKey(group)
        let entries = (labelGroups[group] ?? [:]).sorted { $0.key < $1.key }
        guard !entries.isEmpty else {
            labelGroups[group] = nil
            _ = try map.delete(key: bytesOf(key))
            return
        }
        guard entries.count <= Int(VIGIL_FQDN_LABEL_PATTERNS) else {
            throw BPFError(
                operation: "toFQDNs",
                subject:
                    "\(entries.map(\.key).joined(separator: ", ")): more than \(VIGIL_FQDN_LABEL_PATTERNS) patterns with `*` inside the first label for one endpoint and domain (use \"*.\" + the domain, or matchName)",
                errno: E2BIG)
        }
        var value = vigil_fqdn_label_patterns()
        for (i, (pattern, selector)) in entries.enumerated() {
            guard let p = (try? FQDNSelector.parse(pattern, pattern: true).get())?.labelPattern else { continue }
            var lp = vigil_fqdn_label_pattern()
            lp.selector = selector
            lp.prefix_len = UInt8(p.prefix.utf8.count)
            lp.suffix_len = UInt8(p.suffix.utf8.count)
            withUnsafeMutableBytes(of: &lp.prefix) { $0.copyBytes(from: Array(p.prefix.utf8)) }
            withUnsafeMutableBytes(of: &lp.suffix) { $0.copyBytes(from: Array(p.suffix.utf8)) }
            withUnsafeMutableBytes(of: &value.p) {
                $0.storeBytes(of: lp, toByteOffset: i * MemoryLayout<vigil_fqdn_label_pattern>.stride, as: vigil_fqdn_label_pattern.self)
            }
        }
        try map.update(key, value)
    }

    /// The selector numbers an earlier agent gave names (fqdn_names as taken over): kept, so the
    /// addresses it learned (fqdn_ips, also taken over) stay with the selectors they were learned for.
    public func fqdnSelectorNumbers() throws(BPFError) -> [String: Identity] {
        let map = try object.map("fqdn_names")
        var out: [String: Identity] = [:]
        for key in try map.keys() {
            let k = key.withUnsafeBytes { $0.loadUnaligned(as: vigil_fqdn_name_key.self) }
            let name = withUnsafeBytes(of: k.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let v = try map.lookup(k, as: UInt32.self) { out[name] = Identity(v) }
        }
        // first-label patterns: "?" + rest keys, each value naming its patterns' affixes
        let patterns = try object.map("fqdn_label_patterns")
        for key in try patterns.keys() {
            let k = key.withUnsafeBytes { $0.loadUnaligned(as: vigil_fqdn_name_key.self) }
            let rest = String(withUnsafeBytes(of: k.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }.dropFirst())
            guard let v = try patterns.lookup(k, as: vigil_fqdn_label_patterns.self) else { continue }
            withUnsafeBytes(of: v.p) { raw in
                for i in 0..<Int(VIGIL_FQDN_LABEL_PATTERNS) {
                    let lp = raw.loadUnaligned(fromByteOffset: i * MemoryLayout<vigil_fqdn_label_pattern>.stride, as: vigil_fqdn_label_pattern.self)
                    guard lp.selector != 0 else { continue }
                    let prefix = withUnsafeBytes(of: lp.prefix) { String(decoding: $0.prefix(Int(lp.prefix_len)), as: UTF8.self) }
                    let suffix = withUnsafeBytes(of: lp.suffix) { String(decoding: $0.prefix(Int(lp.suffix_len)), as: UTF8.self) }
                    out[prefix + "*" + suffix + rest] = Identity(lp.selector)
                }
            }
        }
        return out
    }

    /// The highest selector number any learned address carries (numbers of selectors since
    /// removed are not given to new ones: their addresses may still be remembered).
    public func highestLearnedSelector() throws(BPFError) -> Identity? {
        let map = try object.map("fqdn_ips")
        var best: UInt32 = 0
        for key in try map.keys() {
            guard let v = try map.lookup(key.withUnsafeBytes { $0.loadUnaligned(as: vigil_fqdn_ip_key.self) }, as: vigil_fqdn_ip_value.self) else { continue }
            best = max(best, withUnsafeBytes(of: v.selector) { $0.bindMemory(to: UInt32.self).max() ?? 0 })
        }
        return best == 0 ? nil : Identity(best)
    }

    public func removeFQDNName(_ n: FQDNName) throws(BPFError) {
        if let group = Self.labelGroup(n) {
            labelGroups[group]?[n.selector.key] = nil
            return try writeLabelGroup(group)
        }
        _ = try object.map("fqdn_names").delete(key: bytesOf(Self.fqdnNameKey(n)))
    }

    /// The revision in force (an earlier agent's, when its maps were taken over).
    public func currentRevision() throws(BPFError) -> UInt64 {
        try object.map("dp_config").lookup(UInt32(0), as: vigil_datapath_config.self)?.revision ?? 0
    }

    /// Flows in the conntrack table (tests and status).
    public func trackedFlows() throws(BPFError) -> Int { try object.map("conntrack").keys().count }

    /// The datapath's tables whose filling an operator watches (vigil_map_entries/_capacity).
    public func occupancy() -> [(map: String, entries: Int, capacity: Int)] {
        ["conntrack", "ipcache", "policy", "fqdn_ips"].compactMap { name in
            (try? object.map(name).occupancy()).map { (name, $0.entries, $0.capacity) }
        }
    }

    /// Flow records the kernel could not queue (ring buffer full), summed over CPUs.
    public func lostCount() throws(BPFError) -> UInt64 { try Self.lostCount(object.map("lost")) }

    /// The loss counter through a descriptor of its own, for the thread that reports loss.
    public func lostCountMap() throws(BPFError) -> sending BPFMap { try object.map("lost").duplicate() }

    /// The sum over CPUs of a loss counter map (`lostCountMap()`).
    public static func lostCount(_ map: BPFMap) throws(BPFError) -> UInt64 {
        let perCPU = try map.lookupPerCPU(key: bytesOf(UInt32(0))) ?? []
        return perCPU.reduce(0) { $0 + $1.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }
    }
}

func bytesOf<T: BitwiseCopyable>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value) { [UInt8]($0) } }

extension DatapathKernel {
    /// The policy map key an entry is stored under (two entries with equal keys are one slot).
    static func policyKeyBytes(_ e: PolicyEntry) -> [UInt8] { bytesOf(policyKey(e)) }
}

/// What an endpoint does with what no rule decides, as its map entry's flags say it.
public struct EndpointDefaults: Equatable, Sendable {
    /// directions in which it is dropped
    public var enforce: Set<TrafficDirection>
    /// directions in which only audit-mode policies would drop it: reported, forwarded
    public var audit: Set<TrafficDirection>
    /// the endpoint is in audit mode: nothing is dropped
    public var auditAll: Bool
    /// it has toFQDNs rules: DNS answers are learned for it
    public var fqdn: Bool

    public init(enforce: Set<TrafficDirection>, audit: Set<TrafficDirection> = [], auditAll: Bool = false, fqdn: Bool = false) {
        self.enforce = enforce
        self.audit = audit
        self.auditAll = auditAll
        self.fqdn = fqdn
    }

    public init(_ state: DatapathState, endpoint id: UInt32) {
        self.init(
            enforce: state.enforcement[id] ?? [], audit: state.auditing[id] ?? [], auditAll: state.auditMode.contains(id),
            fqdn: state.fqdnEndpoints.contains(id))
    }

    var flags: UInt32 {
        var f: UInt32 = 0
        if enforce.contains(.ingress) { f |= VIGIL_EPF_ENFORCE_INGRESS }
        if enforce.contains(.egress) { f |= VIGIL_EPF_ENFORCE_EGRESS }
        if audit.contains(.ingress) { f |= VIGIL_EPF_AUDIT_INGRESS }
        if audit.contains(.egress) { f |= VIGIL_EPF_AUDIT_EGRESS }
        if auditAll { f |= VIGIL_EPF_AUDIT_ALL }
        if fqdn { f |= VIGIL_EPF_FQDN }
        return f
    }
}
