import CVigilABI

/// The values one filter compares with, as the kernel gets them. Produced by
/// `ValueGrammar.parse`, the one parser `vigil policy validate` and the compiler share: a
/// value the validator accepts is a value the compiler can load, and the reverse.
public enum FilterValues: Sendable, Equatable {
    case none
    case integers([Int64])
    /// Inclusive ranges (a single value N is N:N).
    case ranges([ClosedRange<Int64>])
    case cidrs([CIDR])
    case strings([String])
    /// InMap: integers, ranges and `list:NAME` references (expanded before compiling).
    case integerSet(values: [Int64], ranges: [ClosedRange<Int64>], lists: [String])
}

/// What values an operator takes on one argument family.
public enum ValueGrammar: Sendable, Equatable {
    /// No values (SPortPriv and its kin).
    case none
    /// One or more integers; capability names count as their bit numbers.
    case integers
    /// Values or MIN:MAX ranges within `bounds` (InRange, ports).
    case ranges(ClosedRange<Int64>)
    /// Integers, ranges or `list:NAME` (InMap).
    case integerSet
    /// Names from a table, or numbers (Protocol, Family, State, FileType).
    case names(NameTable)
    /// IPv4/IPv6 addresses or CIDRs.
    case cidrs
    /// Strings of at most `maxBytes` bytes each (`why`: the limit's reason, for the message).
    case strings(maxBytes: Int, why: String)

    /// The named-value tables.
    public enum NameTable: String, Sendable, Equatable {
        case protocols = "protocol"
        case families = "address family"
        case tcpStates = "TCP state"
        case fileTypes = "file type"
        public var names: [String: Int64] {
            switch self {
            case .protocols: PolicyValues.protocols
            case .families: PolicyValues.families
            case .tcpStates: PolicyValues.tcpStates
            case .fileTypes: PolicyValues.fileTypes
            }
        }
        /// Whether plain numbers are accepted beside the names.
        var takesNumbers: Bool { self != .fileTypes }
    }

    /// One value's problem: which value (its index in the list) and why.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public var index: Int?
        public var message: String
        public var description: String { message }
    }

    /// Every problem of a value list.
    public struct Problems: Error, Sendable, Equatable {
        public var all: [Problem]
    }

    /// Parses `values` for this grammar; every problem found, with the index of its value.
    public func parse(_ values: [String]) -> Result<FilterValues, Problems> {
        var problems: [Problem] = []
        func bad(_ i: Int, _ why: String) { problems.append(Problem(index: i, message: "\"\(values[i])\" \(why)")) }
        func range(_ v: String, _ bounds: ClosedRange<Int64>) -> ClosedRange<Int64>? {
            let parts = v.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 1 || parts.count == 2 else { return nil }
            let nums = parts.compactMap { PolicyValues.integer(String($0)) }
            guard nums.count == parts.count, nums.allSatisfy(bounds.contains) else { return nil }
            return nums.count == 1 ? nums[0]...nums[0] : (nums[0] <= nums[1] ? nums[0]...nums[1] : nil)
        }
        let out: FilterValues
        switch self {
        case .none:
            if !values.isEmpty { problems.append(Problem(index: nil, message: "takes no values")) }
            out = .none
        case .integers:
            if values.isEmpty { problems.append(Problem(index: nil, message: "needs a value")) }
            var ints: [Int64] = []
            for (i, v) in values.enumerated() {
                if let n = PolicyValues.integerOrCapability(v) { ints.append(n) } else { bad(i, "is not an integer (decimal, 0x, 0o, 0b) or CAP_ name") }
            }
            out = .integers(ints)
        case .ranges(let bounds):
            if values.isEmpty { problems.append(Problem(index: nil, message: "needs a value")) }
            var rs: [ClosedRange<Int64>] = []
            for (i, v) in values.enumerated() {
                if let r = range(v, bounds) {
                    rs.append(r)
                } else {
                    bad(
                        i,
                        bounds == 0...65535
                            ? "is not a port (0-65535) or a port range MIN:MAX"
                            : "is not a value or a range MIN:MAX (\(bounds.lowerBound)...\(bounds.upperBound))")
                }
            }
            out = .ranges(rs)
        case .integerSet:
            if values.isEmpty { problems.append(Problem(index: nil, message: "needs a value")) }
            var ints: [Int64] = []
            var rs: [ClosedRange<Int64>] = []
            var lists: [String] = []
            for (i, v) in values.enumerated() {
                if v.hasPrefix("list:") {
                    lists.append(String(v.dropFirst(5)))
                } else if let n = PolicyValues.integer(v) {
                    ints.append(n)
                } else if let r = range(v, Int64.min...Int64.max) {
                    rs.append(r)
                } else {
                    bad(i, "is neither an integer, a range MIN:MAX nor list:NAME")
                }
            }
            out = .integerSet(values: ints, ranges: rs, lists: lists)
        case .names(let table):
            if values.isEmpty { problems.append(Problem(index: nil, message: "needs a value")) }
            var ints: [Int64] = []
            for (i, v) in values.enumerated() {
                if let n = table.names[v] ?? (table.takesNumbers ? PolicyValues.integer(v) : nil) {
                    ints.append(n)
                } else {
                    bad(
                        i,
                        "is not a \(table.rawValue); use \(table.takesNumbers ? "a number or " : "")one of \(table.names.keys.sorted().joined(separator: ", "))"
                    )
                }
            }
            out = .integers(ints)
        case .cidrs:
            if values.isEmpty { problems.append(Problem(index: nil, message: "needs a value")) }
            var cs: [CIDR] = []
            for (i, v) in values.enumerated() {
                if let c = PolicyValues.cidr(v) { cs.append(c) } else { bad(i, "is not an IPv4/IPv6 address or CIDR, e.g. 10.0.0.0/8 or ::1/128") }
            }
            out = .cidrs(cs)
        case .strings(let max, let why):
            if values.isEmpty { problems.append(Problem(index: nil, message: "needs a value")) }
            for (i, v) in values.enumerated() where v.utf8.count > max {
                bad(i, "is \(v.utf8.count) bytes; at most \(max) (\(why))")
            }
            out = .strings(values)
        }
        return problems.isEmpty ? .success(out) : .failure(Problems(all: problems))
    }
}

/// One filter operator: its kernel code (vigil_concepts.h VIGIL_OP_LIST) and, per argument
/// family it applies to, the values it takes. THE table for matchArgs / matchData /
/// matchReturnArgs operators: the decoder, the validator, the compiler and explain read it.
public struct OperatorRule: Sendable {
    public let op: ArgOperator
    /// VIGIL_OP_*; nil: Vigil does not run it in the kernel (the policy is refused with the reason).
    public let kernelCode: UInt32?
    /// Why it is not run, when `kernelCode` is nil.
    public let notRunBecause: String?
    public let forms: [ArgType.Family: ValueGrammar]
    /// A negated operator: on a resolved file it holds only when no name of the file (the
    /// global path, the identity) matches, where a positive one holds when any does.
    public let negated: Bool

    init(_ op: ArgOperator, _ code: UInt32?, _ forms: [ArgType.Family: ValueGrammar], negated: Bool = false, notRunBecause: String? = nil) {
        self.op = op
        self.kernelCode = code
        self.forms = forms
        self.negated = negated
        self.notRunBecause = notRunBecause
    }
}

extension ArgOperator {
    /// This operator's row of the table.
    public var rule: OperatorRule { OperatorRule.table[self]! }

    /// The argument families this operator can test.
    public var families: Set<ArgType.Family> { Set(rule.forms.keys) }

    /// Whether the operator takes no values (SPortPriv and friends).
    public var takesNoValues: Bool { rule.forms.values.allSatisfy { $0 == ValueGrammar.none } }
}

extension OperatorRule {
    /// Bytes of a string compared in the kernel's string tries (VIGIL_STRING_KEY_BYTES).
    public static let kernelStringBytes = Int(VIGIL_STRING_KEY_BYTES)
    /// Prefix/Postfix values on resolved paths: a path longer than a record slot keeps its
    /// first and last VIGIL_PATH_END_BYTES bytes, so a value up to that length is judged on
    /// paths of any length.
    public static let pathEndBytes = Int(VIGIL_PATH_END_BYTES)

    static let strings = ValueGrammar.strings(maxBytes: kernelStringBytes, why: "the kernel compares strings up to \(kernelStringBytes) bytes")
    static let pathEnds = ValueGrammar.strings(
        maxBytes: pathEndBytes, why: "a path is judged by its first and last \(pathEndBytes) bytes, so a long one cannot hide its ends")
    static let ports = ValueGrammar.ranges(0...65535)
    static let substrings = ValueGrammar.strings(maxBytes: Int(VIGIL_SUBSTRING_BYTES), why: "SubString values, as Tetragon's")

    /// Tetragon's operators (pkg/selectors/kernel.go), with Vigil's kernel codes. Families:
    /// a sockaddr is one address, so the destination operators also read it (what users
    /// write for socket_connect); fd, file, path, dentry and binprm compare their resolved file.
    static let table: [ArgOperator: OperatorRule] = {
        let rows: [OperatorRule] = [
            OperatorRule(.equal, VIGIL_OP_EQ, [.integer: .integers, .string: strings, .path: strings, .sockaddrUnix: strings]),
            OperatorRule(.notEqual, VIGIL_OP_NEQ, [.integer: .integers, .string: strings, .path: strings, .sockaddrUnix: strings], negated: true),
            OperatorRule(.prefix, VIGIL_OP_PREFIX, [.string: strings, .path: pathEnds, .sockaddrUnix: strings]),
            OperatorRule(.notPrefix, VIGIL_OP_NOT_PREFIX, [.string: strings, .path: pathEnds, .sockaddrUnix: strings], negated: true),
            OperatorRule(.postfix, VIGIL_OP_POSTFIX, [.string: strings, .path: pathEnds, .sockaddrUnix: strings]),
            OperatorRule(.notPostfix, VIGIL_OP_NOT_POSTFIX, [.string: strings, .path: pathEnds, .sockaddrUnix: strings], negated: true),
            OperatorRule(.greaterThan, VIGIL_OP_GT, [.integer: .integers]),
            OperatorRule(.gt, VIGIL_OP_GT, [.integer: .integers]),
            OperatorRule(.lessThan, VIGIL_OP_LT, [.integer: .integers]),
            OperatorRule(.lt, VIGIL_OP_LT, [.integer: .integers]),
            OperatorRule(.mask, VIGIL_OP_MASK, [.integer: .integers]),
            OperatorRule(.inRange, VIGIL_OP_IN_RANGE, [.integer: .ranges(0...Int64(UInt32.max))]),
            OperatorRule(.notInRange, VIGIL_OP_NOT_IN_RANGE, [.integer: .ranges(0...Int64(UInt32.max))], negated: true),
            OperatorRule(.sPort, VIGIL_OP_SPORT, [.socket: ports, .sockaddr: ports]),
            OperatorRule(.notSPort, VIGIL_OP_NOT_SPORT, [.socket: ports, .sockaddr: ports], negated: true),
            OperatorRule(.sPortPriv, VIGIL_OP_SPORT_PRIV, [.socket: .none, .sockaddr: .none]),
            OperatorRule(.notSPortPriv, VIGIL_OP_NOT_SPORT_PRIV, [.socket: .none, .sockaddr: .none], negated: true),
            OperatorRule(.dPort, VIGIL_OP_DPORT, [.socket: ports, .sockaddr: ports]),
            OperatorRule(.notDPort, VIGIL_OP_NOT_DPORT, [.socket: ports, .sockaddr: ports], negated: true),
            OperatorRule(.dPortPriv, VIGIL_OP_DPORT_PRIV, [.socket: .none, .sockaddr: .none]),
            OperatorRule(.notDPortPriv, VIGIL_OP_NOT_DPORT_PRIV, [.socket: .none, .sockaddr: .none], negated: true),
            OperatorRule(.sAddr, VIGIL_OP_SADDR, [.socket: .cidrs, .sockaddr: .cidrs]),
            OperatorRule(.notSAddr, VIGIL_OP_NOT_SADDR, [.socket: .cidrs, .sockaddr: .cidrs], negated: true),
            OperatorRule(.dAddr, VIGIL_OP_DADDR, [.socket: .cidrs, .sockaddr: .cidrs]),
            OperatorRule(.notDAddr, VIGIL_OP_NOT_DADDR, [.socket: .cidrs, .sockaddr: .cidrs], negated: true),
            OperatorRule(.proto, VIGIL_OP_PROTOCOL, [.socket: .names(.protocols)]),
            OperatorRule(.family, VIGIL_OP_FAMILY, [.socket: .names(.families), .sockaddr: .names(.families), .sockaddrUnix: .names(.families)]),
            OperatorRule(.state, VIGIL_OP_STATE, [.socket: .names(.tcpStates)]),
            OperatorRule(.inMap, VIGIL_OP_IN_MAP, [.integer: .integerSet, .syscallID: .integerSet]),
            OperatorRule(.notInMap, VIGIL_OP_NOT_IN_MAP, [.integer: .integerSet, .syscallID: .integerSet], negated: true),
            OperatorRule(.subString, VIGIL_OP_SUBSTRING, [.string: substrings, .path: substrings]),
            OperatorRule(.subStringIgnCase, VIGIL_OP_SUBSTRING_IGNCASE, [.string: substrings, .path: substrings]),
            OperatorRule(.fileType, VIGIL_OP_FILE_TYPE, [.path: .names(.fileTypes)]),
            OperatorRule(.notFileType, VIGIL_OP_NOT_FILE_TYPE, [.path: .names(.fileTypes)], negated: true),
            OperatorRule(
                .capabilitiesGained, nil, [.integer: .integers],
                notRunBecause: "CapabilitiesGained compares capability sets of a cred argument, which Vigil does not filter in the kernel yet"),
            OperatorRule(
                .celExpr, nil,
                [
                    .integer: .strings(maxBytes: 4096, why: "a CEL expression"), .string: .strings(maxBytes: 4096, why: "a CEL expression"),
                    .path: .strings(maxBytes: 4096, why: "a CEL expression"),
                    .socket: .strings(maxBytes: 4096, why: "a CEL expression"), .sockaddr: .strings(maxBytes: 4096, why: "a CEL expression"),
                ],
                notRunBecause: "CEL expressions are not evaluated by Vigil"),
        ]
        var t: [ArgOperator: OperatorRule] = [:]
        for r in rows { t[r.op] = r }
        precondition(t.count == ArgOperator.allCases.count, "every ArgOperator has exactly one row")
        return t
    }()
}
