import Synchronization

/// Identities shared by a fleet: the datapath's allocator in fleet mode, and the fleet's
/// endpoints on other nodes.
///
/// The numbers come from the fleet's store (etcd), allocated by the fleet service off the
/// agent's loop; this table only hands out what is already known, so the datapath never waits
/// on the network. A label set without a number yet is recorded as wanted and its endpoint is
/// retried (the datapath checks every 200 ms) once the fleet service has allocated it.
public final class ClusterIdentities: IdentityAllocator, Sendable {
    /// An endpoint on another node, as published in the store.
    public struct RemoteEndpoint: Sendable, Hashable, Codable {
        public var address: String
        public var identity: UInt32
        public var labels: [String: String]
        public var node: String
        public var name: String
        public var namespace: String

        public init(address: String, identity: UInt32, labels: [String: String], node: String, name: String, namespace: String) {
            self.address = address
            self.identity = identity
            self.labels = labels
            self.node = node
            self.name = name
            self.namespace = namespace
        }
    }

    /// A label set whose cluster identity the fleet has not allocated yet.
    public struct Pending: Error, CustomStringConvertible {
        public let labels: Labels
        public var description: String { "waiting for the fleet's identity of \(labels.canonical) (is etcd reachable?)" }
    }

    struct State {
        var byKey: [String: Identity] = [:]
        var byIdentity: [Identity: Labels] = [:] {
            didSet { knownVersion &+= 1 }
        }
        var knownVersion: UInt64 = 0
        /// Local references per identity (endpoints of this node).
        var refs: [Identity: Int] = [:]
        var wanted: [String: Labels] = [:]
        var remote: [String: RemoteEndpoint] = [:]
        var remoteVersion: UInt64 = 0
        var localEndpoints: [EndpointModel] = []
        var localVersion: UInt64 = 0
        var fleetPolicies: [String: [NetworkPolicy]] = [:]
        var fleetPoliciesVersion: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    // MARK: the datapath's side (the agent's loop)

    public func acquire(_ labels: Labels) throws -> Identity {
        let relevant = labels.identityRelevant
        let key = relevant.canonical
        return try state.withLock { s in
            guard let id = s.byKey[key] else {
                s.wanted[key] = relevant
                throw Pending(labels: relevant)
            }
            s.refs[id, default: 0] += 1
            return id
        }
    }

    public func release(_ identity: Identity) {
        state.withLock { s in
            guard let n = s.refs[identity] else { return }
            s.refs[identity] = n > 1 ? n - 1 : nil
        }
    }

    public func labels(of identity: Identity) -> Labels? { state.withLock { $0.byIdentity[identity] } }

    /// The endpoints of other nodes (for the ipcache and policy peers), with a version that
    /// changes when they do.
    public func remoteEndpoints() -> (version: UInt64, endpoints: [EndpointModel]) {
        state.withLock { s in
            let models = s.remote.values.sorted { $0.address < $1.address }.compactMap { r -> EndpointModel? in
                guard let prefix = IPPrefix(r.address + "/32") else { return nil }
                return EndpointModel(
                    id: 0, name: r.name, namespace: r.namespace, labels: Labels(r.labels), identity: Identity(r.identity), addresses: [prefix])
            }
            return (s.remoteVersion, models)
        }
    }

    /// The datapath's live endpoints, for the fleet service to publish.
    public func setLocalEndpoints(_ endpoints: [EndpointModel]) {
        state.withLock { s in
            guard s.localEndpoints != endpoints else { return }
            s.localEndpoints = endpoints
            s.localVersion &+= 1
        }
    }

    /// The fleet's network policies for this node (by fleet policy name), with a version.
    public func fleetPolicies() -> (version: UInt64, policies: [String: [NetworkPolicy]]) {
        state.withLock { ($0.fleetPoliciesVersion, $0.fleetPolicies) }
    }

    // MARK: the fleet service's side

    /// Replaces the fleet's network policies for this node.
    public func setFleetPolicies(_ policies: [String: [NetworkPolicy]]) {
        state.withLock { s in
            guard s.fleetPolicies != policies else { return }
            s.fleetPolicies = policies
            s.fleetPoliciesVersion &+= 1
        }
    }

    /// Label sets the datapath asked for that have no number yet.
    public func wanted() -> [Labels] { state.withLock { Array($0.wanted.values) } }

    /// A number the store holds for a label set (allocated here or elsewhere).
    public func learn(_ identity: Identity, labels: Labels) {
        state.withLock { s in
            let key = labels.canonical
            if let old = s.byKey[key], old != identity { s.byIdentity[old] = nil }
            s.byKey[key] = identity
            s.byIdentity[identity] = labels
            s.wanted[key] = nil
        }
    }

    /// A number the store no longer holds (collected): forgotten unless this node uses it.
    public func forget(_ identity: Identity) {
        state.withLock { s in
            guard s.refs[identity] == nil, let labels = s.byIdentity.removeValue(forKey: identity) else { return }
            if s.byKey[labels.canonical] == identity { s.byKey[labels.canonical] = nil }
        }
    }

    /// Every number known here with its labels (for the fleet's local copy).
    public func known() -> [Identity: Labels] { state.withLock { $0.byIdentity } }

    /// Moves whenever `known()` may have changed.
    public var knownVersion: UInt64 { state.withLock { $0.knownVersion } }

    /// The identities this node's endpoints use (the fleet keeps a reference to each).
    public func referenced() -> Set<Identity> { state.withLock { Set($0.refs.keys) } }

    public func localEndpoints() -> (version: UInt64, endpoints: [EndpointModel]) { state.withLock { ($0.localVersion, $0.localEndpoints) } }

    /// Replaces the other nodes' endpoints.
    public func setRemote(_ endpoints: [RemoteEndpoint]) {
        state.withLock { s in
            let next = Dictionary(endpoints.map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })
            guard next != s.remote else { return }
            s.remote = next
            s.remoteVersion &+= 1
        }
    }
}
