import Foundation
import Logging
import NetworkPolicy
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
    let leaseTTL: Int64
    let logger: Logger

    struct Published {
        var refs: Set<UInt32> = []
        var endpoints: [String: [UInt8]] = [:]
        var endpointsVersion: UInt64 = .max
        var remote: [String: ClusterIdentities.RemoteEndpoint] = [:]
        var unreferencedOnce: Set<UInt32> = []
        var lastCollection = Date.distantPast
    }
    private let published = Mutex(Published())

    init(table: ClusterIdentities, keys: FleetKeys, node: String, leaseTTL: Int64, logger: Logger) {
        self.table = table
        self.keys = keys
        self.node = node
        self.leaseTTL = leaseTTL
        self.logger = logger
    }

    /// A new session (a new lease): everything is published again.
    func reset() {
        published.withLock { p in
            p.refs = []
            p.endpoints = [:]
            p.endpointsVersion = .max
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
        let (oldRefs, _) = published.withLock { ($0.refs, 0) }
        for n in referenced.subtracting(oldRefs) { try await client.put(keys.identityRef(n, node: node), [], lease: lease) }
        for n in oldRefs.subtracting(referenced) { try await client.delete(keys.identityRef(n, node: node)) }
        published.withLock { $0.refs = referenced }

        let (version, endpoints) = table.localEndpoints()
        if version != published.withLock({ $0.endpointsVersion }) {
            var next: [String: [UInt8]] = [:]
            for e in endpoints {
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
        try await collectIfLeader(client: client, lease: lease)
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
        logger.info("fleet: identities and endpoints listed", metadata: ["identities": "\(ids.count)", "remote-endpoints": "\(remote.count)"])
        return max(r1, r2)
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
            default: break
            }
        }
        if remoteChanged { table.setRemote(Array(published.withLock { $0.remote.values })) }
    }
}
