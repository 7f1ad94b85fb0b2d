/// A workload's labels (`app=frontend`), as Cilium keys them: `source:key=value`, the
/// source defaulting to `k8s`. Selectors may name a key with or without its source
/// (`app`, `k8s:app`, `any:app`).
public struct Labels: Hashable, Sendable, CustomStringConvertible {
    /// key (without source) -> value
    public let values: [String: String]

    public init(_ values: [String: String]) { self.values = values }

    /// Keys that change on every rollout and would give each replica its own identity
    /// (Cilium leaves the same ones out of identities).
    static let notIdentityRelevant: [String] = [
        "pod-template-hash", "controller-revision-hash", "pod-template-generation",
        "statefulset.kubernetes.io/pod-name", "batch.kubernetes.io/controller-uid",
        "controller-uid",
    ]

    /// The labels that decide the identity: equal sets share one.
    public var identityRelevant: Labels {
        Labels(values.filter { k, _ in !Self.notIdentityRelevant.contains(k) })
    }

    /// `k8s:a=1,k8s:b=2`, sorted: the identity's key.
    public var canonical: String {
        values.keys.sorted().map { "k8s:\($0)=\(values[$0]!)" }.joined(separator: ",")
    }

    public var description: String { values.keys.sorted().map { "\($0)=\(values[$0]!)" }.joined(separator: ",") }

    /// The value of `key`, which may carry a source prefix.
    public func value(_ key: String) -> String? { values[Self.stripSource(key)] }

    static func stripSource(_ key: String) -> String {
        for source in ["k8s:", "any:", "container:", "reserved:"] where key.hasPrefix(source) {
            return String(key.dropFirst(source.count))
        }
        return key
    }

    /// The namespace label Kubernetes and Cilium give every pod.
    public static let namespaceKey = "io.kubernetes.pod.namespace"
}
