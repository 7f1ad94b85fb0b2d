/// Kubernetes' label selector: every matchLabels pair and every expression must hold.
/// An empty selector selects everything.
public struct LabelSelector: Hashable, Sendable {
    public enum Operator: String, Sendable, CaseIterable {
        case `in` = "In"
        case notIn = "NotIn"
        case exists = "Exists"
        case doesNotExist = "DoesNotExist"
    }

    public struct Requirement: Hashable, Sendable {
        public let key: String
        public let op: Operator
        public let values: [String]
        public init(key: String, op: Operator, values: [String]) {
            self.key = key
            self.op = op
            self.values = values
        }
    }

    public var matchLabels: [String: String]
    public var matchExpressions: [Requirement]

    public init(matchLabels: [String: String] = [:], matchExpressions: [Requirement] = []) {
        self.matchLabels = matchLabels
        self.matchExpressions = matchExpressions
    }

    public var isEmpty: Bool { matchLabels.isEmpty && matchExpressions.isEmpty }

    /// Whether the selector mentions `key` (with any source prefix).
    public func mentions(_ key: String) -> Bool {
        matchLabels.keys.contains { Labels.stripSource($0) == key } || matchExpressions.contains { Labels.stripSource($0.key) == key }
    }

    public func matches(_ labels: Labels) -> Bool {
        for (k, v) in matchLabels where labels.value(k) != v { return false }
        for r in matchExpressions {
            let value = labels.value(r.key)
            switch r.op {
            case .in: guard let value, r.values.contains(value) else { return false }
            case .notIn: if let value, r.values.contains(value) { return false }
            case .exists: if value == nil { return false }
            case .doesNotExist: if value != nil { return false }
            }
        }
        return true
    }
}
