/// A network policy as Vigil enforces it, from CiliumNetworkPolicy (`cilium.io/v2`),
/// CiliumClusterwideNetworkPolicy or Kubernetes NetworkPolicy (`networking.k8s.io/v1`).
/// Plain values: parsing makes them, the resolver turns them into map entries; neither
/// touches the kernel.
public struct NetworkPolicy: Hashable, Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case ciliumNetworkPolicy = "CiliumNetworkPolicy"
        case ciliumClusterwideNetworkPolicy = "CiliumClusterwideNetworkPolicy"
        case kubernetesNetworkPolicy = "NetworkPolicy"
    }

    public var kind: Kind
    public var name: String
    /// nil for clusterwide policies: their selectors are not limited to one namespace.
    public var namespace: String?
    /// Which endpoints the policy applies to.
    public var endpointSelector: LabelSelector
    public var rules: [NetworkRule]
    /// Directions in which the selected endpoints deny what no rule allows.
    public var defaultDeny: Set<TrafficDirection>
    /// Where the policy starts in its file (`file:line:col`), for messages and flow events.
    public var origin: String
    /// Audit mode (annotation `vigil.io/policy-audit-mode: "true"`): what this policy would
    /// drop (its deny rules, its default deny) is forwarded and reported as AUDIT.
    public var auditMode: Bool

    public init(
        kind: Kind, name: String, namespace: String?, endpointSelector: LabelSelector, rules: [NetworkRule],
        defaultDeny: Set<TrafficDirection>, origin: String, auditMode: Bool = false
    ) {
        self.kind = kind
        self.name = name
        self.namespace = namespace
        self.endpointSelector = endpointSelector
        self.rules = rules
        self.defaultDeny = defaultDeny
        self.origin = origin
        self.auditMode = auditMode
    }

    /// Policies are named per namespace (`ns/name`), clusterwide ones by name.
    public var key: String { namespace.map { "\($0)/\(name)" } ?? name }

    /// Whether the policy applies to an endpoint (its namespace included).
    public func selects(_ labels: Labels) -> Bool {
        if let namespace, labels.value(Labels.namespaceKey) != namespace { return false }
        return endpointSelector.matches(labels)
    }
}

public enum TrafficDirection: String, Hashable, Sendable, CaseIterable {
    case ingress, egress
}

/// One allow or deny rule: traffic in `direction` between a selected endpoint and one of
/// `peers` on one of `ports`.
public struct NetworkRule: Hashable, Sendable {
    public var direction: TrafficDirection
    public var deny: Bool
    /// Empty: every peer.
    public var peers: [Peer]
    /// Empty: every protocol and port.
    public var ports: [PortRange]
    /// `ingress[0]`, `egressDeny[1]`, ... for flow events and `netpolicy list`.
    public var path: String
    /// Of `ports`, those whose `toPorts` entry has `rules.dns`: DNS answers on the flows they
    /// allow feed the endpoint's toFQDNs rules (no other answer does, as in Cilium).
    public var dnsVisiblePorts: [PortRange]

    public init(direction: TrafficDirection, deny: Bool, peers: [Peer], ports: [PortRange], path: String, dnsVisiblePorts: [PortRange] = []) {
        self.direction = direction
        self.deny = deny
        self.peers = peers
        self.ports = ports
        self.path = path
        self.dnsVisiblePorts = dnsVisiblePorts
    }
}

/// Who is on the other side of a rule.
public enum Peer: Hashable, Sendable {
    /// Endpoints whose labels match; `namespace` (when set) limits them to one namespace.
    case endpoints(LabelSelector, namespace: String?)
    /// Addresses in `prefix` but in none of `except`.
    case cidr(IPPrefix, except: [IPPrefix])
    case entity(Entity)
    /// Addresses a DNS answer for a selected name gave this endpoint, while the answer lives
    /// (`toFQDNs`; egress allow rules only).
    case fqdn(FQDNSelector)
}

/// Cilium's named peers.
public enum Entity: String, Hashable, Sendable, CaseIterable {
    case all, world, cluster, host
    case remoteNode = "remote-node"
    case health, unmanaged
    case kubeAPIServer = "kube-apiserver"
    case `init`, ingress
}

/// A protocol and an inclusive port range; protocol nil and ports 0...65535 mean any.
public struct PortRange: Hashable, Sendable {
    public enum Proto: String, Hashable, Sendable, CaseIterable {
        case tcp = "TCP"
        case udp = "UDP"
        case sctp = "SCTP"
        case any = "ANY"
        public var number: UInt8 {
            switch self {
            case .tcp: 6
            case .udp: 17
            case .sctp: 132
            case .any: 0
            }
        }
    }

    public var proto: Proto
    public var first: UInt16
    public var last: UInt16

    public init(proto: Proto, first: UInt16, last: UInt16) {
        self.proto = proto
        self.first = first
        self.last = last
    }

    public static let anything = PortRange(proto: .any, first: 0, last: 65535)
    public var isAnyPort: Bool { first == 0 && last == 65535 }
}
