import Foundation

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

    /// `role=web,zone=a` (a node's labels, a fleet policy's node selector): each label once,
    /// neither side empty. The error says what is wrong, for the caller to prefix with its flag.
    public static func parseList(_ text: String) throws(ListError) -> [String: String] {
        var out: [String: String] = [:]
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2, !kv[0].isEmpty, !kv[1].isEmpty else {
                throw ListError(description: "expected label=value[,label=value...], e.g. role=web; got \"\(text)\"")
            }
            guard out[kv[0]] == nil else { throw ListError(description: "label \(kv[0]) given twice in \"\(text)\"") }
            out[kv[0]] = kv[1]
        }
        return out
    }

    public struct ListError: Error, CustomStringConvertible {
        public let description: String
    }

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
