import AgentCore
import BPFKit
import Foundation
import NetworkPolicy

/// Keeps the datapath's maps equal to what the endpoints and policies of the moment call
/// for. Changes are written in place, additions before removals, and the revision is bumped
/// last so established flows are checked once against the new policy: a flow the change does
/// not touch keeps going, one it revokes is dropped at its next packet.
public final class DatapathController {
    public let kernel: DatapathKernel
    let allocator: IdentityAllocator
    let resolver = PolicyResolver()
    /// Names flow records on the drain thread from what this controller last applied.
    public let namer: FlowNamer

    struct Live {
        var record: EndpointRecord
        var identity: Identity
        var ifindex: Int32
    }

    private var live: [String: Live] = [:]
    private var policyFiles: [String: [NetworkPolicy]] = [:]
    private var applied = DatapathState()
    private var appliedEnforcement: [Int32: (UInt32, Identity, EndpointDefaults)] = [:]
    public private(set) var revision: UInt64 = 1

    /// Set when an earlier agent's maps were taken over: the first apply removes what it left
    /// that no longer applies.
    private var mustPrune: Bool

    public init(kernel: DatapathKernel, allocator: IdentityAllocator = LocalIdentityAllocator()) throws(BPFError) {
        self.kernel = kernel
        self.allocator = allocator
        namer = FlowNamer(cluster: allocator as? ClusterIdentities)
        mustPrune = kernel.resumed
        // carry on from an earlier agent's revision: its flows are re-checked once against ours
        revision = max(revision, (try? kernel.currentRevision()) ?? 0)
        if kernel.resumed {
            resolver.adoptFQDNSelectors(try kernel.fqdnSelectorNumbers(), highestInUse: try kernel.highestLearnedSelector())
        }
        try kernel.setRevision(revision)
    }

    // MARK: inputs

    /// Makes the set of endpoints `records`: new ones get an identity and the tc programs,
    /// gone ones lose both. Returns problems (an endpoint whose interface is missing is skipped).
    @discardableResult
    public func setEndpoints(_ records: [EndpointRecord]) -> [String] {
        var errors: [String] = []
        let wanted = Dictionary(records.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for (name, l) in live where wanted[name] != l.record {
            // only the audit mode changed: the endpoint stays attached (apply() rewrites its flags)
            if var w = wanted[name], w.policyAuditMode != l.record.policyAuditMode {
                w.policyAuditMode = l.record.policyAuditMode
                if w == l.record {
                    live[name]!.record = wanted[name]!
                    continue
                }
            }
            kernel.detach(ifindex: l.ifindex)
            try? kernel.removeEndpoint(ifindex: l.ifindex)
            appliedEnforcement[l.ifindex] = nil
            allocator.release(l.identity)
            live[name] = nil
        }
        // endpoints that ran as reserved:init take their fleet number once it exists (in place:
        // the next apply() writes it; no detach, so no moment without filtering)
        for (name, l) in live where l.identity == .initializing {
            if let id = try? allocator.acquire(l.record.fullLabels) { live[name]!.identity = id }
        }
        for (name, r) in wanted.sorted(by: { $0.key < $1.key }) where live[name] == nil {
            let ifindex = Int32(bitPattern: if_nametoindex(r.hostInterface))
            guard ifindex > 0 else {
                errors.append("endpoint \(name): interface \(r.hostInterface) not found (was the namespace removed?)")
                continue
            }
            do {
                let identity = try allocator.acquire(r.fullLabels)
                do {
                    try kernel.attach(ifindex: ifindex)
                } catch {
                    allocator.release(identity)
                    throw error
                }
                live[name] = Live(record: r, identity: identity, ifindex: ifindex)
            } catch is ClusterIdentities.Pending {
                // Fleet mode, the label set not numbered yet (etcd unreachable at a first
                // start): attached now as Cilium's reserved:init, so the endpoint's own
                // policies hold (traffic is filtered, never let through while it waits); no
                // label selector names it as a peer until its number comes (retried).
                do {
                    try kernel.attach(ifindex: ifindex)
                    live[name] = Live(record: r, identity: .initializing, ifindex: ifindex)
                } catch {
                    errors.append("endpoint \(name): \(error)")
                }
            } catch {
                errors.append("endpoint \(name): \(error)")
            }
        }
        return errors
    }

    /// Endpoints of other nodes (fleet mode): their addresses map to their cluster identities
    /// and policies can name them as peers.
    public var remoteEndpoints: [EndpointModel] = []

    /// Endpoints wanted but not live yet (e.g. waiting for a cluster identity): retried.
    public func pendingEndpoints(of records: [EndpointRecord]) -> Int {
        records.filter { live[$0.name] == nil || live[$0.name]!.identity == .initializing }.count
    }

    public func setPolicies(_ policies: [NetworkPolicy], file: String) { policyFiles[file] = policies }
    public func removePolicies(file: String) { policyFiles[file] = nil }

    public var policies: [NetworkPolicy] { policyFiles.keys.sorted().flatMap { policyFiles[$0]! } }

    public var endpointModels: [EndpointModel] {
        live.values.sorted { $0.record.id < $1.record.id }.map {
            EndpointModel(
                id: $0.record.id, name: $0.record.name, namespace: $0.record.namespace, labels: $0.record.fullLabels,
                identity: $0.identity, addresses: IPPrefix($0.record.address).map { [$0] } ?? [], auditMode: $0.record.policyAuditMode ?? false)
        }
    }

    // MARK: apply

    /// Resolves and writes the difference to the kernel.
    public func apply() throws(BPFError) {
        let state = resolver.resolve(endpoints: endpointModels, remote: remoteEndpoints, policies: policies, hostAddresses: Self.hostAddresses())
        var changed = false
        let oldEntries = Set(applied.entries)
        let newEntries = Set(state.entries)
        for e in state.entries where !oldEntries.contains(e) {
            try kernel.setPolicy(e)
            changed = true
        }
        for (p, id) in state.ipcache where applied.ipcache[p] != id {
            try kernel.setIPCache(p, id)
            changed = true
        }
        for (n, id) in state.fqdnNames where applied.fqdnNames[n] != id {
            try kernel.setFQDNName(n, id)
            changed = true
        }
        for l in live.values {
            let enforce = EndpointDefaults(state, endpoint: l.record.id)
            if let old = appliedEnforcement[l.ifindex], old.0 == l.record.id, old.1 == l.identity, old.2 == enforce { continue }
            try kernel.setEndpoint(ifindex: l.ifindex, id: l.record.id, identity: l.identity, defaults: enforce)
            appliedEnforcement[l.ifindex] = (l.record.id, l.identity, enforce)
            changed = true
        }
        let newKeys = Set(state.entries.map(DatapathKernel.policyKeyBytes))
        for e in applied.entries where !newEntries.contains(e) {
            // an entry whose verdict changed was overwritten above (same key): only delete gone keys
            if !newKeys.contains(DatapathKernel.policyKeyBytes(e)) { try kernel.removePolicy(e) }
            changed = true
        }
        for p in applied.ipcache.keys where state.ipcache[p] == nil {
            try kernel.removeIPCache(p)
            changed = true
        }
        for n in applied.fqdnNames.keys where state.fqdnNames[n] == nil {
            try kernel.removeFQDNName(n)
            changed = true
        }
        applied = state
        publishNaming()
        if mustPrune {
            try kernel.prune(
                policy: state.entries, ipcache: Array(state.ipcache.keys), endpoints: live.values.map(\.ifindex), fqdnNames: Array(state.fqdnNames.keys))
            kernel.dropStaleLinks(keeping: Set(live.values.map(\.ifindex)))
            mustPrune = false
            changed = true
        }
        if changed {
            revision += 1
            try kernel.setRevision(revision)
        }
    }

    public var state: DatapathState { applied }

    /// Addresses of this host (all interfaces, and the endpoints' gateway): identity host.
    static func hostAddresses() -> [IPPrefix] {
        var out = [IPPrefix(EndpointManager.gateway + "/32")!]
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return out }
        defer { freeifaddrs(list) }
        var p: UnsafeMutablePointer<ifaddrs>? = first
        while let ifa = p {
            if let sa = ifa.pointee.ifa_addr, sa.pointee.sa_family == sa_family_t(AF_INET) {
                let bytes = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { s in withUnsafeBytes(of: s.pointee.sin_addr) { Array($0) } }
                out.append(IPPrefix(bytes: bytes, length: 32))
            }
            p = ifa.pointee.ifa_next
        }
        return out
    }

    /// Hands the flow namer what it needs of the applied state (after every apply).
    private func publishNaming() {
        var n = FlowNamer.Naming()
        n.rules = applied.rules
        for (prefix, identity) in applied.cidrIdentities where n.cidr[identity.rawValue] == nil { n.cidr[identity.rawValue] = prefix.description }
        for l in live.values {
            n.local[l.record.address] = .init(name: l.record.name, namespace: l.record.namespace, id: l.record.id)
            if let labels = allocator.labels(of: l.identity) { n.labels[l.identity.rawValue] = FlowNamer.labelStrings(labels) }
        }
        for r in remoteEndpoints {
            for a in r.addresses where a.length == 32 {
                let text = String(a.description.split(separator: "/")[0])
                if n.remote[text] == nil { n.remote[text] = .init(name: r.name, namespace: r.namespace) }
            }
            if let labels = allocator.labels(of: r.identity) { n.labels[r.identity.rawValue] = FlowNamer.labelStrings(labels) }
        }
        namer.publish(n)
    }

    /// The agent stops: the programs and maps stay in force (pinned) for the next agent to take
    /// over; nothing is detached unless there is no pin directory.
    public func releaseAll() {
        live.removeAll()
        appliedEnforcement.removeAll()
        kernel.release()
    }

    public func detachAll() {
        for l in live.values {
            kernel.detach(ifindex: l.ifindex)
            try? kernel.removeEndpoint(ifindex: l.ifindex)
            allocator.release(l.identity)
        }
        live.removeAll()
        appliedEnforcement.removeAll()
        kernel.detachAll()
    }

    /// For `vigil netpolicy list` / `endpoint list`: endpoints with identities, policies and their rule counts.
    public func status(errors: [String]) -> DatapathStatus {
        DatapathStatus(
            revision: revision,
            endpoints: live.values.sorted { $0.record.id < $1.record.id }.map {
                .init(
                    name: $0.record.name, namespace: $0.record.namespace, id: $0.record.id, identity: $0.identity.rawValue,
                    address: $0.record.address, labels: $0.record.fullLabels.description,
                    enforcing: (applied.enforcement[$0.record.id] ?? Set<TrafficDirection>()).map { $0.rawValue }.sorted(),
                    auditing: (applied.auditing[$0.record.id] ?? Set<TrafficDirection>()).map { $0.rawValue }.sorted(),
                    policyAuditMode: applied.auditMode.contains($0.record.id))
            },
            policies: policyFiles.keys.sorted().flatMap { file in
                policyFiles[file]!.map {
                    .init(name: $0.key, kind: $0.kind.rawValue, file: file, rules: $0.rules.count, mode: $0.auditMode ? "audit" : "enforce")
                }
            },
            policyEntries: applied.entries.count,
            errors: errors
                + live.values.filter { applied.fqdnWithoutDNS.contains($0.record.id) }.map(\.record.name).sorted().map {
                    "endpoint \($0): toFQDNs rules but no DNS-visible rule, so no DNS answer is learned: allow its DNS server with toPorts [{ports: [{port: \"53\", protocol: ANY}], rules: {dns: [{matchPattern: \"*\"}]}}]"
                })
    }
}

/// What `vigil netpolicy list` and `vigil endpoint list` show of the running datapath.
public struct DatapathStatus: Codable, Sendable {
    public struct Endpoint: Codable, Sendable {
        public var name: String
        public var namespace: String
        public var id: UInt32
        public var identity: UInt32
        public var address: String
        public var labels: String
        /// directions in which what no rule allows is dropped
        public var enforcing: [String]
        /// directions in which it is only reported (audit-mode policies)
        public var auditing: [String]?
        /// the endpoint drops nothing: every would-be drop is reported
        public var policyAuditMode: Bool?

        /// `ingress`, `ingress audit:egress`, `audit-mode ingress,egress`, `none`: what the
        /// endpoint drops, and what it only reports.
        public var modeSummary: String {
            var parts: [String] = []
            if policyAuditMode == true { parts.append("audit-mode") }
            if !enforcing.isEmpty { parts.append(enforcing.joined(separator: ",")) }
            if let a = auditing, !a.isEmpty { parts.append("audit:" + a.joined(separator: ",")) }
            return parts.isEmpty ? "none" : parts.joined(separator: " ")
        }
    }
    public struct Policy: Codable, Sendable {
        public var name: String
        public var kind: String
        public var file: String
        public var rules: Int
        /// "enforce" or "audit"
        public var mode: String?
    }
    public var revision: UInt64
    public var endpoints: [Endpoint]
    public var policies: [Policy]
    public var policyEntries: Int
    public var errors: [String]
}
