import Foundation
import NetworkPolicy
import PolicyModel
import PolicyYAML

/// What `vigil fleet` does against etcd: write, change and delete fleet policies (validated
/// first, written with optimistic concurrency), and read nodes and their states.
public struct FleetAdmin: Sendable {
    public let client: EtcdClient
    public let keys: FleetKeys

    init(client: EtcdClient, settings: EtcdSettings) {
        self.client = client
        keys = FleetKeys(prefix: settings.prefix)
    }

    /// A client of the first endpoint that answers, in the order given (one read each: an
    /// endpoint that is down is passed over); the error names every endpoint tried.
    /// Settings are checked first (`settings.check()`).
    public static func connect(settings: EtcdSettings) async throws(EtcdError) -> FleetAdmin {
        try settings.check()
        var failures: [String] = []
        for endpoint in settings.endpoints {
            let client = try EtcdClient(endpoint: endpoint, settings: settings)
            do {
                _ = try await client.get(FleetKeys(prefix: settings.prefix).policies)
                return FleetAdmin(client: client, settings: settings)
            } catch {
                client.close()
                // an endpoint that answered with a refusal (authentication, permission) has
                // spoken for the cluster: the next would say the same
                guard case .unavailable = error else { throw error }
                failures.append("\(endpoint): \(error)")
            }
        }
        throw EtcdError.unavailable("no endpoint answered: " + failures.joined(separator: "; "))
    }

    /// A refused request: bad input (exit 2) or the store's error (exit 1).
    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
        public var isInput: Bool
    }

    /// Checks a policy text as the agents will (the same positioned errors) and returns the
    /// entry name: `name`, or the text's first policy's.
    public static func validate(yaml: String, file: String, name: String?) throws(Refusal) -> String {
        let result = PolicyLoader.parse(Array(yaml.utf8), file: file)
        guard result.isValid else { throw Refusal(description: result.diagnostics.map(\.description).joined(separator: "\n"), isInput: true) }
        guard let first = result.policies.first else { throw Refusal(description: "\(file): no TracingPolicy in the file", isInput: true) }
        return try entryName(name ?? first.name, file: file)
    }

    static func entryName(_ entry: String, file: String) throws(Refusal) -> String {
        guard FleetKeys.isValidName(entry) else {
            throw Refusal(description: "\(file): \(entry) cannot name a fleet policy: use letters, digits, '-', '_' or '.' (or --name)", isInput: true)
        }
        return entry
    }

    /// Network policies (CiliumNetworkPolicy, NetworkPolicy) checked as the agents' datapath
    /// will; the entry name: `name`, or the text's first policy's.
    public static func validateNetwork(yaml: String, file: String, name: String?) throws(Refusal) -> String {
        let result = NetworkPolicyLoader.parse(Array(yaml.utf8), file: file)
        guard result.isValid else { throw Refusal(description: result.diagnostics.map(\.description).joined(separator: "\n"), isInput: true) }
        guard let first = result.policies.first else { throw Refusal(description: "\(file): no network policy in the file", isInput: true) }
        return try entryName(name ?? first.name, file: file)
    }

    /// Which of the fleet's policy collections a command works on.
    public enum Collection: Sendable {
        case tracing, network
        func key(_ keys: FleetKeys, _ name: String) -> String { self == .tracing ? keys.policy(name) : keys.netPolicy(name) }
        func prefix(_ keys: FleetKeys) -> String { self == .tracing ? keys.policies : keys.netPolicies }
        func states(_ keys: FleetKeys) -> String { self == .tracing ? keys.states : keys.netStates }
    }

    /// Parses `--nodes role=web,zone=a`.
    public static func selector(_ text: String?) throws(Refusal) -> [String: String] {
        guard let text, !text.isEmpty else { return [:] }
        do { return try Labels.parseList(text) } catch { throw Refusal(description: "--nodes: \(error.description)", isInput: true) }
    }

    /// Writes a policy at the next generation. Another writer in between makes the write
    /// fail and retry on the new value (at most a few times), never overwrite it blindly.
    public func apply(
        name: String, yaml: String?, nodes: [String: String]?, mode: String?, expectGeneration: Int64? = nil, in collection: Collection = .tracing
    ) async throws -> FleetPolicy {
        let key = collection.key(keys, name)
        for _ in 0..<5 {
            let current = try await client.get(key)
            let old = try current.map { try FleetJSON.decode(FleetPolicy.self, $0.value) }
            if let expectGeneration, (old?.generation ?? 0) != expectGeneration {
                throw Refusal(description: "policy \(name) is at generation \(old?.generation ?? 0), not \(expectGeneration): read it again", isInput: false)
            }
            guard let text = yaml ?? old?.yaml else { throw Refusal(description: "no fleet policy named \(name)", isInput: true) }
            let next = FleetPolicy(
                name: name, generation: (old?.generation ?? 0) + 1, nodes: nodes ?? old?.nodes ?? [:], mode: mode ?? old?.mode, yaml: text)
            if let old, old.yaml == next.yaml, old.nodes == next.nodes, old.mode == next.mode { return old }  // nothing changes
            if try await client.put(key, FleetJSON.encode(next), ifRevision: current?.modRevision ?? 0) { return next }
        }
        throw Refusal(description: "policy \(name) kept changing under this write (other writers); try again", isInput: false)
    }

    public func delete(name: String, in collection: Collection = .tracing) async throws {
        guard try await client.delete(collection.key(keys, name)) > 0 else { throw Refusal(description: "no fleet policy named \(name)", isInput: true) }
    }

    public func policies(in collection: Collection = .tracing) async throws -> [FleetPolicy] {
        try await client.list(prefix: collection.prefix(keys)).values.compactMap { try? FleetJSON.decode(FleetPolicy.self, $0.value) }.sorted {
            $0.name < $1.name
        }
    }

    public func nodes() async throws -> [FleetNode] {
        try await client.list(prefix: keys.nodes).values.compactMap { try? FleetJSON.decode(FleetNode.self, $0.value) }.sorted { $0.name < $1.name }
    }

    /// Every node's state of every policy, by node then policy.
    public func states(in collection: Collection = .tracing) async throws -> [String: [String: FleetPolicyState]] {
        var out: [String: [String: FleetPolicyState]] = [:]
        let prefix = collection.states(keys)
        for kv in try await client.list(prefix: prefix).values {
            let parts = kv.key.dropFirst(prefix.count).split(separator: "/")
            guard parts.count == 2, let s = try? FleetJSON.decode(FleetPolicyState.self, kv.value) else { continue }
            out[String(parts[0]), default: [:]][String(parts[1])] = s
        }
        return out
    }
}

/// The fleet as `vigil fleet status` shows it: per policy, each live node's state.
public struct FleetStatusReport: Codable, Sendable {
    public struct Row: Codable, Sendable {
        public var policy: String
        public var generation: Int64
        public var mode: String?
        /// node -> its state (nodes that have not reported yet: "pending").
        public var nodes: [String: FleetPolicyState?]
        public var atGeneration: Int
        public var selected: Int
        public var summary: String
    }
    public var nodes: [FleetNode]
    public var policies: [Row]
    /// The fleet's network policies, the same way.
    public var network: [Row]

    public init(
        nodes: [FleetNode], policies: [FleetPolicy], states: [String: [String: FleetPolicyState]], network: [FleetPolicy] = [],
        networkStates: [String: [String: FleetPolicyState]] = [:]
    ) {
        self.nodes = nodes
        self.policies = Self.rows(nodes: nodes, policies: policies, states: states)
        self.network = Self.rows(nodes: nodes, policies: network, states: networkStates)
    }

    static func rows(nodes: [FleetNode], policies: [FleetPolicy], states: [String: [String: FleetPolicyState]]) -> [Row] {
        policies.map { p in
            var row: [String: FleetPolicyState?] = [:]
            var at = 0
            var selected = 0
            var errors: [String] = []
            for n in nodes {
                let s = states[n.name]?[p.name]
                row[n.name] = .some(s)
                if p.selects(n.labels) { selected += 1 }
                if let s, s.generation == p.generation {
                    if s.state == .loaded { at += 1 }
                    if s.state == .error { errors.append("\(n.name): \(s.error ?? "error")") }
                }
            }
            var summary = "\(at)/\(selected) nodes at generation \(p.generation)"
            if nodes.count > selected { summary += ", \(nodes.count - selected) not selected" }
            if !errors.isEmpty { summary += "; errors: " + errors.joined(separator: "; ") }
            return Row(policy: p.name, generation: p.generation, mode: p.mode, nodes: row, atGeneration: at, selected: selected, summary: summary)
        }
    }

    /// The policy x node table (network policies below, when there are any).
    public var table: String {
        let names = nodes.map(\.name)
        var lines = ["POLICY\tGEN\tMODE\t" + names.joined(separator: "\t") + "\tSUMMARY"]
        for r in policies
            + network.map({
                var r = $0
                r.policy = "netpolicy/" + r.policy
                return r
            })
        {
            let cells = names.map { n -> String in
                guard let s = r.nodes[n] ?? nil else { return "pending" }
                let stale = s.generation == r.generation ? "" : "@\(s.generation)"
                return s.state.rawValue + stale
            }
            lines.append("\(r.policy)\t\(r.generation)\t\(r.mode ?? "-")\t" + cells.joined(separator: "\t") + "\t\(r.summary)")
        }
        if nodes.isEmpty { lines.append("(no node is registered)") }
        return lines.joined(separator: "\n")
    }
}
