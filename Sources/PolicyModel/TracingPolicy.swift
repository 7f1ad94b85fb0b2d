/// Where a policy element came from, for messages and `vigil policy explain`.
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let column: Int
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }
    public var description: String { "\(file):\(line):\(column)" }
}

/// Where each part of a policy is in its file, by YAML path (`spec.kprobes[0].selectors[1]`):
/// how a refusal found after parsing (by the compiler) is reported at FILE:LINE:COL. Not part
/// of a policy's meaning: two policies that differ only in layout are equal.
public struct SourcePositions: Sendable, Equatable {
    public var byPath: [String: SourceLocation] = [:]
    public init() {}
    public static func == (a: SourcePositions, b: SourcePositions) -> Bool { true }

    /// The position of `path`, or of its nearest recorded ancestor.
    public func location(of path: String) -> SourceLocation? {
        var p = path
        while !p.isEmpty {
            if let l = byPath[p] { return l }
            guard let cut = p.lastIndex(where: { $0 == "." || $0 == "[" }) else { break }
            p = String(p[..<cut])
        }
        return nil
    }
}

/// `spec.lists[]`: a named set of functions or syscalls, referenced as `list:NAME`.
public struct ListSpec: Sendable, Equatable {
    public enum Kind: String, PolicyEnum {
        case syscalls
        case generatedSyscalls = "generated_syscalls"
        case generatedFtrace = "generated_ftrace"
    }
    public var name: String
    public var kind: Kind
    public var values: [String]
    /// A regex over ftrace functions (generated_ftrace).
    public var pattern: String?
    public var validated: Bool
    public init(name: String, kind: Kind, values: [String], pattern: String?, validated: Bool) {
        self.name = name
        self.kind = kind
        self.values = values
        self.pattern = pattern
        self.validated = validated
    }
}

/// `spec.options[]`.
public struct OptionSpec: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// Kubernetes label selector (podSelector, containerSelector, hostSelector).
public struct LabelSelector: Sendable, Equatable {
    public struct Requirement: Sendable, Equatable {
        public enum Operator: String, PolicyEnum {
            case `in` = "In"
            case notIn = "NotIn"
            case exists = "Exists"
            case doesNotExist = "DoesNotExist"
        }
        public var key: String
        public var op: Operator
        public var values: [String]
        public init(key: String, op: Operator, values: [String]) {
            self.key = key
            self.op = op
            self.values = values
        }
    }
    public var matchLabels: [String: String] = [:]
    public var matchExpressions: [Requirement] = []
    public init() {}
    public var isEmpty: Bool { matchLabels.isEmpty && matchExpressions.isEmpty }
}

/// Whether a policy enforces or only reports (`spec.options: policy-mode`).
public enum PolicyMode: String, PolicyEnum {
    case enforce, monitor
}

/// `spec` of a TracingPolicy.
public struct PolicySpec: Sendable, Equatable {
    public var kprobes: [KProbeSpec] = []
    public var fentries: [KProbeSpec] = []
    public var tracepoints: [TracepointSpec] = []
    public var lsmHooks: [LSMHookSpec] = []
    public var uprobes: [UProbeSpec] = []
    public var usdts: [USDTSpec] = []
    public var lists: [ListSpec] = []
    /// `enforcers[].calls`.
    public var enforcers: [[String]] = []
    public var options: [OptionSpec] = []
    public var loader = false
    public var podSelector: LabelSelector?
    public var containerSelector: LabelSelector?
    public var hostSelector: LabelSelector?
    public var selectorsMacros: [String: Selector] = [:]
    public init() {}

    /// Every hook, in file order within each section.
    public var hookCount: Int { kprobes.count + fentries.count + tracepoints.count + lsmHooks.count + uprobes.count + usdts.count }

    /// `allow-partial-load` (opt-in): hooks this kernel cannot host are skipped, with their
    /// reasons reported, instead of failing the whole policy.
    public var allowsPartialLoad: Bool {
        options.last { $0.name == "allow-partial-load" }.map { ["", "true", "1"].contains($0.value) } ?? false
    }

    /// Every hook's selectors, in file order.
    public var allSelectors: [Selector] {
        var out: [Selector] = []
        out += kprobes.flatMap(\.common.selectors)
        out += fentries.flatMap(\.common.selectors)
        out += tracepoints.flatMap(\.common.selectors)
        out += lsmHooks.flatMap(\.common.selectors)
        out += uprobes.flatMap(\.common.selectors)
        out += usdts.flatMap(\.common.selectors)
        return out
    }

    /// Whether the policy acts in the kernel (kills, signals, denies) rather than only reporting.
    public var enforces: Bool {
        mode == .enforce && allSelectors.contains { ($0.matchActions + $0.matchReturnActions).contains { $0.kind.enforces } }
    }

    /// `policy-mode` from the options (enforce by default, as Tetragon).
    public var mode: PolicyMode {
        options.last { $0.name == "policy-mode" }.flatMap { PolicyMode(rawValue: $0.value) } ?? .enforce
    }
}

/// A parsed and validated TracingPolicy or TracingPolicyNamespaced.
public struct TracingPolicy: Sendable, Equatable {
    public enum Kind: String, PolicyEnum {
        case tracingPolicy = "TracingPolicy"
        case tracingPolicyNamespaced = "TracingPolicyNamespaced"
    }
    public var kind: Kind
    public var name: String
    public var namespace: String?
    public var labels: [String: String] = [:]
    public var annotations: [String: String] = [:]
    public var spec: PolicySpec
    public var location: SourceLocation
    /// Where each part is in the file (for refusals found after parsing).
    public var positions = SourcePositions()

    public init(kind: Kind, name: String, spec: PolicySpec, location: SourceLocation) {
        self.kind = kind
        self.name = name
        self.spec = spec
        self.location = location
    }
}
