import Foundation

/// The fleet's key layout in etcd, version 1, under the configured prefix (docs/fleet.md):
///
///     PREFIX/v1/tracingpolicies/NAME        a FleetPolicy (JSON), written by `vigil fleet policy`
///     PREFIX/v1/nodes/NODE                  a FleetNode (JSON), under the node's lease
///     PREFIX/v1/status/NODE/NAME            a FleetPolicyState (JSON), under the node's lease
///     PREFIX/v1/netpolicies/NAME            a FleetPolicy (JSON) holding network policies
///     PREFIX/v1/netstatus/NODE/NAME         a FleetPolicyState (JSON) of a network policy, under the node's lease
///     PREFIX/v1/identities/id/N             the label set of cluster identity N (JSON)
///     PREFIX/v1/identities/labels/KEY       N, for the label set KEY (base64url of its canonical form)
///     PREFIX/v1/identities/refs/N/NODE      NODE uses identity N (under its lease)
///     PREFIX/v1/identities/gc-leader        the node that collects unused identities (under its lease)
///     PREFIX/v1/endpoints/NODE/ADDRESS      an endpoint of NODE (JSON), under its lease
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

    public var netPolicies: String { root + "netpolicies/" }
    public func netPolicy(_ name: String) -> String { netPolicies + name }
    public var netStates: String { root + "netstatus/" }
    public func netState(node: String, policy: String) -> String { netStates + node + "/" + policy }
    public var identityIDs: String { root + "identities/id/" }
    public func identity(_ n: UInt32) -> String { identityIDs + "\(n)" }
    public func identityLabels(_ canonical: String) -> String {
        let b64 = Data(canonical.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return root + "identities/labels/" + b64
    }
    public var identityRefs: String { root + "identities/refs/" }
    public func identityRef(_ n: UInt32, node: String) -> String { identityRefs + "\(n)/\(node)" }
    public var gcLeader: String { root + "identities/gc-leader" }
    public var endpoints: String { root + "endpoints/" }
    public func endpoint(node: String, address: String) -> String { endpoints + node + "/" + address }

    /// The last segment of a key (a policy or node name).
    public static func name(of key: String) -> String { String(key.split(separator: "/", omittingEmptySubsequences: false).last ?? "") }

    /// Names used as key segments: no slash, nothing etcd tools would trip on.
    public static func isValidName(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 253 && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) } && s != "." && s != ".."
    }
}
