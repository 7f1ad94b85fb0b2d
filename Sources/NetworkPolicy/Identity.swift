/// A numeric security identity: what the datapath compares instead of addresses.
///
/// Numbering follows Cilium so identities read the same in both tools: reserved identities
/// below 256, label-set identities from 256 (cluster scope), CIDR identities with bit 24 set
/// (node-local scope; never shared between nodes).
public struct Identity: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ value: UInt32) { rawValue = value }

    /// Policy wildcard: "any peer" in a policy-map key. Never a packet's identity.
    public static let any = Identity(0)
    public static let host = Identity(1)
    public static let world = Identity(2)
    public static let unmanaged = Identity(3)
    public static let health = Identity(4)
    public static let initializing = Identity(5)
    public static let remoteNode = Identity(6)
    public static let kubeAPIServer = Identity(7)
    public static let ingress = Identity(8)

    /// Reserved identities by their Cilium entity name.
    public static let reserved: [String: Identity] = [
        "host": .host, "world": .world, "unmanaged": .unmanaged, "health": .health, "init": .initializing,
        "remote-node": .remoteNode, "kube-apiserver": .kubeAPIServer, "ingress": .ingress,
    ]

    public static let firstClusterScoped: UInt32 = 256
    public static let localScopeFlag: UInt32 = 1 << 24

    /// toFQDNs selectors are numbered from here (VIGIL_FQDN_IDENTITY_FLAG: node-local scope,
    /// above the CIDR identities).
    public static let fqdnSelectorBase = Identity(localScopeFlag | 1 << 23)
    public var isFQDNSelector: Bool { rawValue & Self.fqdnSelectorBase.rawValue == Self.fqdnSelectorBase.rawValue }

    public var isReserved: Bool { rawValue != 0 && rawValue < Self.firstClusterScoped }
    public var isLocalScope: Bool { rawValue & Self.localScopeFlag != 0 }

    public var reservedName: String? { Self.reserved.first { $0.value == self }?.key }

    public var description: String { "\(rawValue)" }
    public static func < (a: Identity, b: Identity) -> Bool { a.rawValue < b.rawValue }
}
