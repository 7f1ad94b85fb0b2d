/// A position in a source file, 1-based, as editors show it.
public struct SourceMark: Sendable, Equatable, Hashable, CustomStringConvertible {
    public let line: Int
    public let column: Int
    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }
    public var description: String { "\(line):\(column)" }
}

/// One node of a YAML document, with where it starts in the file.
///
/// Aliases are already resolved (an alias node is a copy of its anchor's node, keeping the
/// alias's own position), and `<<` merge keys are applied.
public struct YAMLNode: Sendable, Equatable {
    public enum Style: Sendable, Equatable { case plain, quoted, block }

    public indirect enum Value: Sendable, Equatable {
        case scalar(String, Style)
        case mapping([(key: YAMLNode, value: YAMLNode)])
        case sequence([YAMLNode])

        public static func == (a: Value, b: Value) -> Bool {
            switch (a, b) {
            case (.scalar(let x, let s), .scalar(let y, let t)): x == y && s == t
            case (.sequence(let x), .sequence(let y)): x == y
            case (.mapping(let x), .mapping(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
            default: false
            }
        }
    }

    public let value: Value
    public let mark: SourceMark
    /// An explicit tag such as `!!str`, if any.
    public let tag: String?
    /// How many nodes this node stands for once aliases are expanded (itself included).
    /// Stored so that counting alias expansion is O(1): a billion-laughs document is
    /// refused before it costs anything.
    public let weight: Int

    public init(_ value: Value, at mark: SourceMark, tag: String? = nil) {
        self.value = value
        self.mark = mark
        self.tag = tag
        weight =
            switch value {
            case .scalar: 1
            case .sequence(let items): items.reduce(1) { $0 &+ $1.weight }
            case .mapping(let pairs): pairs.reduce(1) { $0 &+ $1.key.weight &+ $1.value.weight }
            }
    }

    public static func == (a: YAMLNode, b: YAMLNode) -> Bool { a.value == b.value && a.mark == b.mark && a.tag == b.tag }

    /// The scalar text, or nil for mappings and sequences.
    public var scalar: String? {
        if case .scalar(let s, _) = value { return s }
        return nil
    }

    /// Whether this is YAML's null (`~`, `null`, empty plain scalar).
    public var isNull: Bool {
        guard case .scalar(let s, .plain) = value, tag == nil else { return false }
        return s.isEmpty || s == "~" || s == "null" || s == "Null" || s == "NULL"
    }

    /// What kind of node this is, for messages ("a mapping", "a list", "a string").
    public var kindDescription: String {
        switch value {
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .scalar: isNull ? "null" : "a scalar"
        }
    }
}
