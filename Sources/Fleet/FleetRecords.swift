import Foundation

/// A tracing policy for the fleet, as stored at `tracingpolicies/NAME`: the policy text as
/// written, which nodes run it and in which mode, and its generation (one more at each write).
/// One key holds the whole of it, so an agent never sees half a policy.
public struct FleetPolicy: Codable, Sendable, Equatable {
    public var name: String
    public var generation: Int64
    /// Labels a node must all carry to run it (empty: every node).
    public var nodes: [String: String]
    /// enforce or monitor, overriding the text's `policy-mode` option; nil: as the text says.
    public var mode: String?
    public var yaml: String
    public var updated: Date

    public init(name: String, generation: Int64, nodes: [String: String], mode: String?, yaml: String, updated: Date = Date()) {
        self.name = name
        self.generation = generation
        self.nodes = nodes
        self.mode = mode
        self.yaml = yaml
        self.updated = updated
    }

    /// Whether a node with these labels runs it.
    public func selects(_ labels: [String: String]) -> Bool { nodes.allSatisfy { labels[$0.key] == $0.value } }
}

/// A node as it registers at `nodes/NODE` (under its lease).
public struct FleetNode: Codable, Sendable, Equatable {
    public var name: String
    public var labels: [String: String]
    public var kernel: String
    /// The hook tiers this kernel offers (`vigil probe`).
    public var tiers: [String]
    public var agentVersion: String
    /// A hash of the fleet policies and generations this node runs: equal hashes, equal sets.
    public var policySetHash: String
    public var started: Date
    public var pid: Int32

    public init(
        name: String, labels: [String: String], kernel: String, tiers: [String], agentVersion: String, policySetHash: String, started: Date, pid: Int32
    ) {
        self.name = name
        self.labels = labels
        self.kernel = kernel
        self.tiers = tiers
        self.agentVersion = agentVersion
        self.policySetHash = policySetHash
        self.started = started
        self.pid = pid
    }
}

/// What one node made of one fleet policy, at `status/NODE/NAME` (under the node's lease).
public struct FleetPolicyState: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        /// In the kernel, every hook attached.
        case loaded
        /// Refused or failed on this node (reason in `error`); a previous generation may still run.
        case error
        /// The node's labels do not match the policy's `nodes`.
        case skipped
    }
    public var policy: String
    public var generation: Int64
    public var state: State
    public var error: String?
    public var mode: String?
    /// tier:attach point of each hook.
    public var hooks: [String]
    /// The enforcing actions the kernel took (in monitor mode: would have taken).
    public var actions: UInt64
    /// Events the policy posted.
    public var events: UInt64
    public var updated: Date

    public init(
        policy: String, generation: Int64, state: State, error: String? = nil, mode: String? = nil, hooks: [String] = [], actions: UInt64 = 0,
        events: UInt64 = 0, updated: Date = Date()
    ) {
        self.policy = policy
        self.generation = generation
        self.state = state
        self.error = error
        self.mode = mode
        self.hooks = hooks
        self.actions = actions
        self.events = events
        self.updated = updated
    }
}

/// JSON as the fleet stores it: sorted keys, ISO 8601 dates.
public enum FleetJSON {
    public static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.dateEncodingStrategy = .iso8601
        return [UInt8]((try? e.encode(value)) ?? Data())
    }

    public static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) throws -> T {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return try d.decode(type, from: Data(bytes))
    }
}
