import Foundation
import Logging
import NetworkPolicy
import PolicyYAML
import Synchronization

/// Network identity for the fleet, by the kvstore allocation scheme Cilium uses:
///
/// - A label set's number is created once, cluster-wide: one transaction creates both
///   `identities/labels/KEY` -> N and `identities/id/N` -> labels only if neither exists, so
///   nodes allocating the same label set at once end with the one number that won; a node that
///   loses reads the winner's.
/// - Each node references the numbers its endpoints use (`identities/refs/N/NODE`, under its
///   lease) and publishes its endpoints (`endpoints/NODE/ADDRESS`, under its lease).
/// - One node, elected by holding `identities/gc-leader` under its lease, deletes numbers that
///   nobody references on two passes in a row (the grace covers a number just allocated whose
///   reference is on its way).
/// - Every node follows `identities/id/` and `endpoints/` (list, then watch) and hands the
///   numbers and the other nodes' endpoints to the datapath through `ClusterIdentities`.
public final class FleetNetwork: Sendable {
    let table: ClusterIdentities
    let keys: FleetKeys
    let node: String
    let labels: [String: String]
    let leaseTTL: Int64
    let logger: Logger

    struct Published {
        var refs: Set<UInt32> = []
        var endpoints: [String: [UInt8]] = [:]
        var endpointsVersion: UInt64 = .max
        var remote: [String: ClusterIdentities.RemoteEndpoint] = [:] {
            didSet { copyChanges &+= 1 }
        }
        var unreferencedOnce: Set<UInt32> = []
        var lastCollection = Date.distantPast
        /// The fleet's network policies as last seen, and what this node made of each.
        var netPolicies: [String: FleetPolicy] = [:] {
            didSet { copyChanges &+= 1 }
        }
        /// Moves with every change of what the local copy holds besides the identities.
        var copyChanges: UInt64 = 0
        var netStates: [String: FleetPolicyState] = [:]
        var reportedNetStates: [String: FleetPolicyState] = [:]
    }
    private let published = Mutex(Published())
    /// Where the local copy lives (the fleet state directory), and what was last written there.
    let stateDirectory: String
    /// What the copy on disk was made from (the identities' and the rest's change counters).
    private let savedFrom = Mutex<(identities: UInt64, rest: UInt64)?>(nil)

    init(table: ClusterIdentities, keys: FleetKeys, node: String, labels: [String: String], leaseTTL: Int64, stateDirectory: String, logger: Logger) {
        self.table = table
        self.stateDirectory = stateDirectory
        self.keys = keys
        self.node = node
        self.labels = labels
        self.leaseTTL = leaseTTL
        self.logger = logger
    }

    /// A new session (a new lease): everything is published again.
    func reset() {
        published.withLock { p in
            p.refs = []
            p.endpoints = [:]
            p.endpointsVersion = .max
            p.reportedNetStates = [:]
        }
    }

    /// The number of `labels`, allocated when the fleet has none.
    func allocate(_ labels: Labels, client: EtcdClient) async throws -> UInt32 {
        try await Self.allocate(labels, client: client, keys: keys)
    }

    /// The allocation itself (also what `vigil-bench fleet` measures).
    public static func allocate(_ labels: Labels, client: EtcdClient, keys: FleetKeys) async throws -> UInt32 {
        let labelsKey = keys.identityLabels(labels.canonical)
        for _ in 0..<32 {
            if let kv = try await client.get(labelsKey), let n = UInt32(String(decoding: kv.value, as: UTF8.self)) { return n }
            let candidate = UInt32.random(in: Identity.firstClusterScoped...65535)
            let created = try await client.createAll([
                (labelsKey, Array("\(candidate)".utf8)), (keys.identity(candidate), FleetJSON.encode(labels.values)),
            ])
            if created { return candidate }
            // another node numbered this label set first, or took this number: read again
        }
        throw EtcdError.refused("no free cluster identity found for \(labels.canonical) after 32 tries")
    }

    /// Numbers what the datapath waits for, keeps this node's references and endpoints
    /// published, and collects unused numbers when this node leads.
    func sync(client: EtcdClient, lease: Int64) async throws {
        for labels in table.wanted() {
            let n = try await allocate(labels, client: client)
            table.learn(Identity(n), labels: labels)
            logger.info("fleet: cluster identity", metadata: ["identity": "\(n)", "labels": "\(labels.canonical)"])
        }
        let referenced = Set(table.referenced().map(\.rawValue))
        let oldRefs = published.withLock { $0.refs }
        for n in referenced.subtracting(oldRefs) { try await client.put(keys.identityRef(n, node: node), [], lease: lease) }
        for n in oldRefs.subtracting(referenced) { try await client.delete(keys.identityRef(n, node: node)) }
        published.withLock { $0.refs = referenced }

        let (version, endpoints) = table.localEndpoints()
        if version != published.withLock({ $0.endpointsVersion }) {
            var next: [String: [UInt8]] = [:]
            // an endpoint waiting for its number (reserved:init) is published once it has it
            for e in endpoints where e.identity != .initializing {
                for a in e.addresses {
                    let address = String(a.description.split(separator: "/")[0])
                    let record = ClusterIdentities.RemoteEndpoint(
                        address: address, identity: e.identity.rawValue, labels: e.labels.values, node: node, name: e.name, namespace: e.namespace)
                    next[keys.endpoint(node: node, address: address)] = FleetJSON.encode(record)
                }
            }
            let old = published.withLock { $0.endpoints }
            for (k, v) in next where old[k] != v { try await client.put(k, v, lease: lease) }
            for k in old.keys where next[k] == nil { try await client.delete(k) }
            published.withLock {
                $0.endpoints = next
                $0.endpointsVersion = version
            }
        }
        let (states, reported) = published.withLock { ($0.netStates, $0.reportedNetStates) }
        for (name, st) in states where reported[name] != st {
            try await client.put(keys.netState(node: node, policy: name), FleetJSON.encode(st), lease: lease)
        }
        for name in reported.keys where states[name] == nil { try await client.delete(keys.netState(node: node, policy: name)) }
        published.withLock { $0.reportedNetStates = states }
        try await collectIfLeader(client: client, lease: lease)
        saveLocalCopy()
    }

    /// Starting while etcd may be down: the state last saved. Identities are learned (this
    /// node's endpoints get their numbers back), the other nodes' endpoints and the fleet's
    /// network policies are in force until the first list from etcd replaces them.
    func loadLocalCopy() {
        guard let copy = FleetNetworkCopy.load(directory: stateDirectory, logger: logger) else { return }
        for (n, labels) in copy.identities {
            if let n = UInt32(n) { table.learn(Identity(n), labels: Labels(labels)) }
        }
        let remote = Dictionary(copy.remote.map { (keys.endpoint(node: $0.node, address: $0.address), $0) }, uniquingKeysWith: { a, _ in a })
        published.withLock { $0.remote = remote }
        table.setRemote(Array(remote.values))
        for p in copy.policies { considerNetPolicy(name: p.name, value: FleetJSON.encode(p)) }
        logger.info(
            "fleet: network state from the local copy",
            metadata: ["identities": "\(copy.identities.count)", "remote-endpoints": "\(copy.remote.count)", "policies": "\(copy.policies.count)"])
    }

    /// Writes the local copy when what it holds changed (checked with every sync, 200 ms: two
    /// counters compared, the copy built only after a change).
    private func saveLocalCopy() {
        let from = (identities: table.knownVersion, rest: published.withLock { $0.copyChanges })
        if let saved = savedFrom.withLock({ $0 }), saved == from { return }
        var copy = FleetNetworkCopy()
        for (id, labels) in table.known() { copy.identities["\(id.rawValue)"] = labels.values }
        let (remote, policies) = published.withLock {
            ($0.remote.values.sorted { $0.address < $1.address }, $0.netPolicies.values.sorted { $0.name < $1.name })
        }
        copy.remote = remote
        copy.policies = policies
        copy.save(directory: stateDirectory)
        savedFrom.withLock { $0 = from }
    }

    /// A fleet network policy key's value (nil: deleted): handed to the datapath when it
    /// selects this node; a text that does not parse is reported, never half-applied.
    private func considerNetPolicy(name: String, value: [UInt8]?) {
        var state: FleetPolicyState? = nil
        var policies: [NetworkPolicy]? = nil
        if let value {
            guard let p = try? FleetJSON.decode(FleetPolicy.self, value) else {
                logger.error("fleet: \(keys.netPolicy(name)): not a fleet policy; ignored, the previous state stays")
                return
            }
            if !p.selects(labels) {
                let wanted = p.nodes.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ",")
                state = FleetPolicyState(policy: name, generation: p.generation, state: .skipped, error: "this node's labels do not match \(wanted)")
            } else {
                let result = NetworkPolicyLoader.parse(Array(p.yaml.utf8), file: "fleet:\(name)")
                if result.isValid {
                    policies = result.policies
                    state = FleetPolicyState(policy: name, generation: p.generation, state: .loaded, hooks: result.policies.map(\.key))
                } else {
                    // the previous generation (if any) stays in force
                    policies = published.withLock { $0.netPolicies[name] }.flatMap { old in
                        let r = NetworkPolicyLoader.parse(Array(old.yaml.utf8), file: "fleet:\(name)")
                        return r.isValid ? r.policies : nil
                    }
                    state = FleetPolicyState(
                        policy: name, generation: p.generation, state: .error, error: result.diagnostics.map(\.description).joined(separator: "; "))
                }
            }
            if state?.state != .error { published.withLock { $0.netPolicies[name] = p } }
        } else {
            published.withLock { $0.netPolicies[name] = nil }
        }
        published.withLock { $0.netStates[name] = state }
        var current = table.fleetPolicies().policies
        current[name] = policies
        table.setFleetPolicies(current)
    }

    /// The elected node deletes numbers no node has referenced on two passes, one TTL apart.
    private func collectIfLeader(client: EtcdClient, lease: Int64) async throws {
        guard Date().timeIntervalSince(published.withLock { $0.lastCollection }) >= Double(leaseTTL) else { return }
        published.withLock { $0.lastCollection = Date() }
        _ = try await client.createAll([(keys.gcLeader, Array(node.utf8))], lease: lease)
        guard let leader = try await client.get(keys.gcLeader), String(decoding: leader.value, as: UTF8.self) == node else { return }
        let ids = try await client.list(prefix: keys.identityIDs).values
        let refs = try await client.list(prefix: keys.identityRefs).values
        let used = Set(refs.compactMap { kv in UInt32(kv.key.dropFirst(keys.identityRefs.count).split(separator: "/").first ?? "") })
        var unused: Set<UInt32> = []
        for kv in ids {
            guard let n = UInt32(FleetKeys.name(of: kv.key)), !used.contains(n) else { continue }
            unused.insert(n)
            guard published.withLock({ $0.unreferencedOnce.contains(n) }) else { continue }
            // only if it did not change meanwhile; its labels key goes with it
            if try await client.delete(kv.key, ifRevision: kv.modRevision) {
                if let labels = try? FleetJSON.decode([String: String].self, kv.value) {
                    let labelsKey = keys.identityLabels(Labels(labels).canonical)
                    if let l = try await client.get(labelsKey), String(decoding: l.value, as: UTF8.self) == "\(n)" {
                        _ = try await client.delete(labelsKey, ifRevision: l.modRevision)
                    }
                }
                unused.remove(n)
                logger.info("fleet: unused cluster identity collected", metadata: ["identity": "\(n)"])
            }
        }
        published.withLock { $0.unreferencedOnce = unused }
    }

    /// Lists identities and endpoints; returns the revision to watch from.
    func resync(client: EtcdClient) async throws -> Int64 {
        let (ids, r1) = try await client.list(prefix: keys.identityIDs)
        for kv in ids {
            guard let n = UInt32(FleetKeys.name(of: kv.key)), let labels = try? FleetJSON.decode([String: String].self, kv.value) else { continue }
            table.learn(Identity(n), labels: Labels(labels))
        }
        let (eps, r2) = try await client.list(prefix: keys.endpoints)
        var remote: [String: ClusterIdentities.RemoteEndpoint] = [:]
        for kv in eps {
            guard let e = try? FleetJSON.decode(ClusterIdentities.RemoteEndpoint.self, kv.value), e.node != node else { continue }
            remote[kv.key] = e
        }
        published.withLock { $0.remote = remote }
        table.setRemote(Array(remote.values))
        let (nps, r3) = try await client.list(prefix: keys.netPolicies)
        let present = Set(nps.map { FleetKeys.name(of: $0.key) })
        for kv in nps { considerNetPolicy(name: FleetKeys.name(of: kv.key), value: kv.value) }
        for gone in published.withLock({ Array($0.netStates.keys) }) where !present.contains(gone) { considerNetPolicy(name: gone, value: nil) }
        logger.info("fleet: identities and endpoints listed", metadata: ["identities": "\(ids.count)", "remote-endpoints": "\(remote.count)"])
        return max(r1, r2, r3)
    }

    /// Applies watched changes under `identities/id/` and `endpoints/`.
    func handle(_ changes: [EtcdChange]) {
        var remoteChanged = false
        for c in changes {
            switch c {
            case .put(let kv) where kv.key.hasPrefix(keys.identityIDs):
                if let n = UInt32(FleetKeys.name(of: kv.key)), let labels = try? FleetJSON.decode([String: String].self, kv.value) {
                    table.learn(Identity(n), labels: Labels(labels))
                }
            case .delete(let key, _) where key.hasPrefix(keys.identityIDs):
                if let n = UInt32(FleetKeys.name(of: key)) { table.forget(Identity(n)) }
            case .put(let kv) where kv.key.hasPrefix(keys.endpoints):
                guard let e = try? FleetJSON.decode(ClusterIdentities.RemoteEndpoint.self, kv.value), e.node != node else { continue }
                published.withLock { $0.remote[kv.key] = e }
                remoteChanged = true
            case .delete(let key, _) where key.hasPrefix(keys.endpoints):
                if published.withLock({ $0.remote.removeValue(forKey: key) }) != nil { remoteChanged = true }
            case .put(let kv) where kv.key.hasPrefix(keys.netPolicies):
                considerNetPolicy(name: FleetKeys.name(of: kv.key), value: kv.value)
            case .delete(let key, _) where key.hasPrefix(keys.netPolicies):
                considerNetPolicy(name: FleetKeys.name(of: key), value: nil)
            default: break
            }
        }
        if remoteChanged { table.setRemote(Array(published.withLock { $0.remote.values })) }
    }
}
