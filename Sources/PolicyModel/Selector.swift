/// One argument filter (matchArgs, matchData, matchReturnArgs).
public struct ArgFilter: Sendable, Equatable {
    /// The hook argument position this filter reads (`index`).
    public var index: UInt32
    /// Positions in the spec's `args` list (`args: [n]`), which win over `index` when set.
    public var args: [UInt32]
    public var op: ArgOperator
    public var values: [String]
    public init(index: UInt32, args: [UInt32] = [], op: ArgOperator, values: [String]) {
        self.index = index
        self.args = args
        self.op = op
        self.values = values
    }
}

/// matchBinaries / matchParentBinaries entry.
public struct BinaryFilter: Sendable, Equatable {
    public var op: BinaryOperator
    public var values: [String]
    /// Also match every descendant of a matching process.
    public var followChildren: Bool
    public init(op: BinaryOperator, values: [String], followChildren: Bool = false) {
        self.op = op
        self.values = values
        self.followChildren = followChildren
    }
}

/// matchPIDs entry.
public struct PIDFilter: Sendable, Equatable {
    public var op: SetOperator
    public var values: [UInt32]
    public var isNamespacePID: Bool
    public var followForks: Bool
    public init(op: SetOperator, values: [UInt32], isNamespacePID: Bool = false, followForks: Bool = false) {
        self.op = op
        self.values = values
        self.isNamespacePID = isNamespacePID
        self.followForks = followForks
    }
}

/// matchNamespaces entry: values are inode numbers or `host_ns`.
public struct NamespaceFilter: Sendable, Equatable {
    public var namespace: NamespaceKind
    public var op: SetOperator
    public var values: [String]
    public init(namespace: NamespaceKind, op: SetOperator, values: [String]) {
        self.namespace = namespace
        self.op = op
        self.values = values
    }
}

/// matchNamespaceChanges entry.
public struct NamespaceChangeFilter: Sendable, Equatable {
    public var op: SetOperator
    public var values: [NamespaceKind]
    public init(op: SetOperator, values: [NamespaceKind]) {
        self.op = op
        self.values = values
    }
}

/// matchCapabilities / matchCapabilityChanges entry.
public struct CapabilityFilter: Sendable, Equatable {
    public var set: CapabilitySet
    public var op: SetOperator
    public var isNamespaceCapability: Bool
    public var values: [CapabilityName]
    public init(set: CapabilitySet, op: SetOperator, isNamespaceCapability: Bool, values: [CapabilityName]) {
        self.set = set
        self.op = op
        self.isNamespaceCapability = isNamespaceCapability
        self.values = values
    }
}

/// One selector: its filters are ANDed; a hook's selectors are ORed, first match wins.
public struct Selector: Sendable, Equatable {
    public var matchArgs: [ArgFilter] = []
    public var matchData: [ArgFilter] = []
    public var matchReturnArgs: [ArgFilter] = []
    public var matchPIDs: [PIDFilter] = []
    public var matchBinaries: [BinaryFilter] = []
    public var matchParentBinaries: [BinaryFilter] = []
    public var matchNamespaces: [NamespaceFilter] = []
    public var matchNamespaceChanges: [NamespaceChangeFilter] = []
    public var matchCapabilities: [CapabilityFilter] = []
    public var matchCapabilityChanges: [CapabilityFilter] = []
    public var matchActions: [Action] = []
    public var matchReturnActions: [Action] = []
    /// Names of `spec.selectorsMacros` entries merged into this selector.
    public var macros: [String] = []
    public init() {}

    /// The actions that run on match; an empty list means Post (Tetragon's default).
    public var effectiveActions: [Action] { matchActions.isEmpty ? [Action(kind: .post)] : matchActions }
}
