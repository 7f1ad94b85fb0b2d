/// A workload as the policy resolver sees it: its numeric id in the datapath, its labels
/// (the namespace label included), its identity and addresses.
public struct EndpointModel: Hashable, Sendable {
    public var id: UInt32
    public var name: String
    public var namespace: String
    public var labels: Labels
    public var identity: Identity
    public var addresses: [IPPrefix]
    /// Audit mode for the whole endpoint: nothing is dropped, would-be drops are reported.
    public var auditMode: Bool

    public init(id: UInt32, name: String, namespace: String, labels: Labels, identity: Identity, addresses: [IPPrefix], auditMode: Bool = false) {
        self.id = id
        self.name = name
        self.namespace = namespace
        self.labels = labels
        self.identity = identity
        self.addresses = addresses
        self.auditMode = auditMode
    }
}
