/// The fleet's key layout in etcd, version 1, under the configured prefix (docs/fleet.md):
///
///     PREFIX/v1/tracingpolicies/NAME        a FleetPolicy (JSON), written by `vigil fleet policy`
///     PREFIX/v1/nodes/NODE                  a FleetNode (JSON), under the node's lease
///     PREFIX/v1/status/NODE/NAME            a FleetPolicyState (JSON), under the node's lease
///
/// Keys a node owns live under its lease, so a node that dies leaves nothing behind once the
/// lease's TTL runs out. A new layout gets a new version segment; agents read only theirs.
public struct FleetKeys: Sendable {
    public let root: String

    public init(prefix: String) { root = prefix + "/v1/" }

    public var policies: String { root + "tracingpolicies/" }
    public func policy(_ name: String) -> String { policies + name }
    public var nodes: String { root + "nodes/" }
    public func node(_ name: String) -> String { nodes + name }
    public var states: String { root + "status/" }
    public func states(of node: String) -> String { states + node + "/" }
    public func state(node: String, policy: String) -> String { states(of: node) + policy }

    /// The last segment of a key (a policy or node name).
    public static func name(of key: String) -> String { String(key.split(separator: "/", omittingEmptySubsequences: false).last ?? "") }

    /// Names used as key segments: no slash, nothing etcd tools would trip on.
    public static func isValidName(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 253 && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) } && s != "." && s != ".."
    }
}
