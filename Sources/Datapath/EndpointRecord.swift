import Foundation
import NetworkPolicy

/// One endpoint as created on this node: what `vigil endpoint create` made and the agent
/// enforces on. Stored as JSON, one file per endpoint, in the endpoint state directory.
public struct EndpointRecord: Codable, Sendable, Equatable {
    public var name: String
    public var namespace: String
    public var labels: [String: String]
    /// Datapath id (small, unique on the node).
    public var id: UInt32
    /// IPv4 address (a /32 routed to the endpoint's veth).
    public var address: String
    /// The network namespace (under /run/netns).
    public var netns: String
    /// Host side of the veth pair, where the tc programs sit.
    public var hostInterface: String
    /// cgroup v2 directory processes of the endpoint run in.
    public var cgroup: String
    /// The namespace existed before (adopted): deleting the endpoint leaves it.
    public var adopted: Bool
    /// Audit mode: the endpoint drops nothing; what its policies would drop is reported as
    /// AUDIT (nil in records written before audit mode existed: off).
    public var policyAuditMode: Bool?

    /// Labels with the namespace label Cilium gives every pod.
    public var fullLabels: Labels {
        var l = labels
        l[Labels.namespaceKey] = namespace
        return Labels(l)
    }

    public init(
        name: String, namespace: String, labels: [String: String], id: UInt32, address: String, netns: String,
        hostInterface: String, cgroup: String, adopted: Bool, policyAuditMode: Bool? = nil
    ) {
        self.name = name
        self.namespace = namespace
        self.labels = labels
        self.id = id
        self.address = address
        self.netns = netns
        self.hostInterface = hostInterface
        self.cgroup = cgroup
        self.adopted = adopted
        self.policyAuditMode = policyAuditMode
    }
}
