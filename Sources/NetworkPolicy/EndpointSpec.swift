/// An endpoint as an endpoints file (or `vigil endpoint create`) asks for it.
public struct EndpointSpec: Hashable, Sendable {
    public var name: String
    public var namespace: String
    public var labels: [String: String]
    /// Adopt this existing network namespace instead of creating one.
    public var netns: String?
    /// Audit mode: the endpoint drops nothing, would-be drops are reported as AUDIT.
    public var policyAuditMode: Bool

    public init(name: String, namespace: String = "default", labels: [String: String], netns: String? = nil, policyAuditMode: Bool = false) {
        self.name = name
        self.namespace = namespace
        self.labels = labels
        self.netns = netns
        self.policyAuditMode = policyAuditMode
    }
}
