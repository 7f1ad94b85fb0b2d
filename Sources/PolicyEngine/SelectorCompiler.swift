import AgentCore
import CVigilABI
import Foundation
import PolicyModel

/// Turns a policy selector into the kernel's `struct vigil_selector` plus value-set
/// entries. The one table from policy operators and actions to their VIGIL_OP_/VIGIL_ACT_
/// codes (bpf/include/hook_filters.h and hook_actions.h implement them).
struct SelectorCompiler {
    /// Per recorded slot: the policy argument and how the kernel reads it.
    let slots: [(arg: HookArg, layout: ArgumentLayout)]
    /// Tracepoint filters name positions in `args`; function hooks name the argument index.
    let filtersByPosition: Bool
    let flavour: HookFlavour
    /// policy-mode monitor: enforcement only posts, so it needs no enforcing tier.
    let monitor: Bool
    let hostNamespace: (NamespaceKind) -> UInt32?
    /// The slot the return value is read into (fexit / kretprobe with matchReturnArgs).
    var returnSlot: Int? = nil
    var sets = ValueSets()
    var identities = FileIdentitySet()
    /// Per slot: the last components its Equal and Postfix filters name (NameGate).
    var nameGates: [Int: NameGate] = [:]
    /// matchBinaries followChildren lists, numbered in the selectors' `follow` (1 + index).
    var follows: [[String]] = []
    /// GetUrl / DnsLookup of each compiled selector, in order (the agent carries them out).
    var userActionsBySelector: [[UserSpaceAction]] = []

    /// Compiles selector `s` (at `path`, for messages); throws the first reason it cannot run in the kernel.
    mutating func compile(_ s: Selector, path: String) throws(EngineError) -> vigil_selector {
        var out = vigil_selector()
        func unsupported(_ what: String, _ why: String = "not enforced in the kernel by Vigil yet") -> EngineError {
            .unsupported("\(path).\(what): \(why)")
        }
        if !s.matchData.isEmpty { throw unsupported("matchData") }
        if !s.matchReturnArgs.isEmpty && returnSlot == nil {
            throw unsupported("matchReturnArgs", "needs a return probe with returnArg (return: true)")
        }
        if !s.matchNamespaceChanges.isEmpty { throw unsupported("matchNamespaceChanges") }
        if !s.matchCapabilityChanges.isEmpty { throw unsupported("matchCapabilityChanges") }
        if !s.matchReturnActions.isEmpty { throw unsupported("matchReturnActions") }

        // matchArgs
        // matchReturnArgs are filters on the return slot, ANDed with matchArgs like any other.
        guard s.matchArgs.count + s.matchReturnArgs.count <= Int(VIGIL_SEL_ARG_FILTERS) else {
            throw unsupported("matchArgs", "at most \(VIGIL_SEL_ARG_FILTERS) entries with matchReturnArgs")
        }
        for (i, f) in s.matchArgs.enumerated() {
            let filter = try compileArgFilter(f, path: "\(path).matchArgs[\(i)]")
            setElement(&out.filters, i, filter)
        }
        for (j, f) in s.matchReturnArgs.enumerated() {
            let filter = try compileArgFilter(f, path: "\(path).matchReturnArgs[\(j)]", slotOverride: returnSlot)
            setElement(&out.filters, s.matchArgs.count + j, filter)
        }
        out.nfilters = UInt32(s.matchArgs.count + s.matchReturnArgs.count)

        // matchPIDs
        if s.matchPIDs.count > 1 { throw unsupported("matchPIDs", "Vigil tests one matchPIDs entry per selector") }
        if let p = s.matchPIDs.first {
            out.pid_ns = p.isNamespacePID ? 1 : 0
            if p.followForks { throw unsupported("matchPIDs.followForks") }
            guard p.values.count <= Int(VIGIL_SEL_PIDS) else { throw unsupported("matchPIDs.values", "at most \(VIGIL_SEL_PIDS) pids") }
            out.pid_op = p.op == .in ? VIGIL_OP_EQ : VIGIL_OP_NEQ
            for (i, v) in p.values.enumerated() { setElement(&out.pids, i, v) }
            out.npids = UInt32(p.values.count)
        }

        // matchBinaries, matchParentBinaries (the caller's / its parent's binary, from the process table)
        // followChildren (In/NotIn only, the decoder checks): a slot bit set at exec and copied at
        // fork (FollowSlots); beside it one plain entry may filter the binary itself (a Vigil
        // extension: Tetragon takes one entry)
        let following = s.matchBinaries.filter(\.followChildren)
        if following.count > 1 { throw unsupported("matchBinaries", "one followChildren entry per selector") }
        if let f = following.first {
            follows.append(f.values)
            out.follow = UInt32(follows.count) | (f.op == .notIn ? VIGIL_FOLLOW_NOT_IN : 0)
        }
        if s.matchParentBinaries.contains(where: \.followChildren) {
            throw unsupported("matchParentBinaries.followChildren", "follow the binary with matchBinaries followChildren (it covers every descendant)")
        }
        for (key, filters) in [("matchBinaries", s.matchBinaries.filter { !$0.followChildren }), ("matchParentBinaries", s.matchParentBinaries)] {
            if filters.count > 1 {
                throw unsupported(
                    key, key == "matchBinaries" ? "one entry per selector (as Tetragon), plus one with followChildren" : "one entry per selector (as Tetragon)")
            }
            guard let b = filters.first else { continue }
            let tooLong = b.values.first { $0.utf8.count > Int(VIGIL_STRING_KEY_BYTES) }
            if let tooLong { throw unsupported("\(key).values", "\"\(tooLong.prefix(40))...\" is longer than \(VIGIL_STRING_KEY_BYTES) bytes") }
            let op: UInt32
            switch b.op {
            case .in: op = VIGIL_OP_EQ
            case .notIn: op = VIGIL_OP_NEQ
            case .prefix: op = VIGIL_OP_PREFIX
            case .notPrefix: op = VIGIL_OP_NOT_PREFIX
            case .postfix: op = VIGIL_OP_POSTFIX
            case .notPostfix: op = VIGIL_OP_NOT_POSTFIX
            }
            let set = sets.addStrings(b.values, reversed: b.op == .postfix || b.op == .notPostfix)
            // a listed binary's hardlink is that binary (FileIdentitySet)
            let ids = b.op == .postfix || b.op == .notPostfix ? nil : identities.add(b.values, prefix: b.op == .prefix || b.op == .notPrefix)
            if key == "matchBinaries" {
                (out.binary_op, out.binary_set, out.binary_id_set) = (op, set, ids ?? 0)
            } else {
                (out.parent_binary_op, out.parent_binary_set, out.parent_binary_id_set) = (op, set, ids ?? 0)
            }
        }

        // matchNamespaces
        guard s.matchNamespaces.count <= Int(VIGIL_SEL_NS_FILTERS) else { throw unsupported("matchNamespaces", "at most \(VIGIL_SEL_NS_FILTERS) entries") }
        for (i, n) in s.matchNamespaces.enumerated() {
            var f = vigil_ns_filter()
            f.ns = UInt32(NamespaceKind.allCases.firstIndex(of: n.namespace)!)
            f.op = n.op == .in ? VIGIL_OP_EQ : VIGIL_OP_NEQ
            guard n.values.count <= Int(VIGIL_SEL_NS_VALUES) else { throw unsupported("matchNamespaces[\(i)].values", "at most \(VIGIL_SEL_NS_VALUES) values") }
            for (j, v) in n.values.enumerated() {
                let inum: UInt32?
                if v == "host_ns" { inum = hostNamespace(n.namespace) } else { inum = UInt32(v) }
                guard let inum else { throw unsupported("matchNamespaces[\(i)].values[\(j)]", "cannot resolve \(v)") }
                setElement(&f.values, j, inum)
            }
            f.nvalues = UInt32(n.values.count)
            setElement(&out.ns, i, f)
        }

        // matchCapabilities
        if s.matchCapabilities.count > 1 { throw unsupported("matchCapabilities", "one entry per selector") }
        if let c = s.matchCapabilities.first {
            if c.isNamespaceCapability { throw unsupported("matchCapabilities.isNamespaceCapability") }
            out.cap_op = c.op == .in ? VIGIL_OP_EQ : VIGIL_OP_NEQ
            out.cap_set = c.set == .effective ? 0 : c.set == .inheritable ? 1 : 2
            out.cap_mask = c.values.reduce(0) { $0 | (1 << UInt64($1.bit)) }
        }

        // actions
        var userActions: [UserSpaceAction] = []
        defer { userActionsBySelector.append(userActions) }
        let actions = s.effectiveActions
        guard actions.count <= Int(VIGIL_SEL_ACTIONS) else { throw unsupported("matchActions", "at most \(VIGIL_SEL_ACTIONS) actions") }
        for (i, a) in actions.enumerated() {
            var act = vigil_action()
            switch a.kind {
            case .post:
                act.kind = a.kind.kernelCode!
                if let r = a.rateLimitSeconds { act.rate_ns = r * 1_000_000_000 }
                act.scope = a.rateLimitScope == .thread ? VIGIL_SCOPE_THREAD : a.rateLimitScope == .process ? VIGIL_SCOPE_PROCESS : VIGIL_SCOPE_GLOBAL
            case .noPost:
                act.kind = a.kind.kernelCode!
            case .sigkill, .signal:
                act.kind = a.kind.kernelCode!
                if a.kind == .signal { act.arg = Int32(a.argSig ?? 9) }
            case .override:
                guard flavour.canOverride || monitor else {
                    throw .unplaceable(
                        hook: "\(path).matchActions[\(i)]",
                        tried: ["Override needs the hook placed as BPF-LSM or fmod_ret (it is placed as \(flavour.rawValue))"])
                }
                act.kind = a.kind.kernelCode!
                let e = a.argError ?? -1
                act.arg = e > 0 ? -e : e
            case .getURL, .dnsLookup:
                // carried out by the agent for the posted record: a NoPost would leave it nothing to act on
                if actions.contains(where: { $0.kind == .noPost }) {
                    throw unsupported(
                        "matchActions[\(i)]",
                        "\(a.kind.rawValue) is carried out by the agent for the posted event; NoPost in the same selector leaves nothing to act on")
                }
                if a.kind == .getURL {
                    switch HTTPURL.parse(a.argURL ?? "") {
                    case .success(let url): userActions.append(.getURL(url))
                    case .failure(let why): throw unsupported("matchActions[\(i)].argUrl", why.description)
                    }
                    act.kind = a.kind.kernelCode!
                } else {
                    let name = a.argFQDN ?? ""
                    guard !name.isEmpty, name.utf8.count <= 253 else { throw unsupported("matchActions[\(i)].argFqdn", "a host name of 1 to 253 bytes") }
                    userActions.append(.dnsLookup(name))
                    act.kind = a.kind.kernelCode!
                }
            case .trackSock, .untrackSock:
                act.kind = a.kind.kernelCode!
                act.arg = Int32(try socketSlot(Int(a.argSock ?? 0), what: "matchActions[\(i)].argSock"))
            case .followFD, .unfollowFD, .copyFD, .notifyEnforcer, .cleanupEnforcerNotification, .set:
                throw unsupported("matchActions[\(i)]", a.kind.notRunBecause ?? "action \(a.kind.rawValue) is not run by Vigil")
            }
            setElement(&out.actions, i, act)
        }
        out.nactions = UInt32(actions.count)
        return out
    }

    /// The slot at `position` when it holds a socket TrackSock/UntrackSock can key on (argSock
    /// counts positions in `args`, as Tetragon's does).
    func socketSlot(_ position: Int, what: String) throws(EngineError) -> Int {
        guard !flavour.isCgroup else {
            throw .unsupported("\(what): a connect hook run as a cgroup program has no kernel socket to track")
        }
        guard position < slots.count else { throw .unsupported("\(what): no argument at position \(position)") }
        let kind = slots[position].layout.kind
        guard kind == VIGIL_ARG_SOCK || kind == VIGIL_ARG_SOCKET else {
            throw .unsupported(
                "\(what): argument \(position) is \(slots[position].arg.type.rawValue); TrackSock and UntrackSock take a sock or socket argument")
        }
        return position
    }

    func slot(of f: ArgFilter) -> Int? {
        if let p = f.args.first { return Int(p) < slots.count ? Int(p) : nil }
        return slots.firstIndex { $0.arg.index == f.index }
    }

    mutating func compileArgFilter(_ f: ArgFilter, path: String, slotOverride: Int? = nil) throws(EngineError) -> vigil_arg_filter {
        guard let slot = slotOverride ?? slot(of: f) else { throw .unsupported("\(path): no recorded argument for index \(f.index)") }
        let arg = slots[slot].arg
        let kind = slots[slot].layout.kind
        var out = vigil_arg_filter()
        out.slot = UInt32(slot)
        func bad(_ why: String) -> EngineError { .unsupported("\(path): \(why)") }
        let type = arg.type.rawValue

        // The one operator table (PolicyModel/OperatorRules.swift) decides what applies and parses
        // the values, exactly as `vigil policy validate` does.
        let rule = f.op.rule
        guard let grammar = rule.forms[arg.type.family] else { throw bad("operator \(f.op.rawValue) does not apply to \(type)") }
        guard let code = rule.kernelCode else { throw bad(rule.notRunBecause ?? "\(f.op.rawValue) is not run in the kernel by Vigil") }
        switch kind {
        case VIGIL_ARG_CRED, VIGIL_ARG_USER_NS: throw bad("filters on \(type) arguments are not run in the kernel by Vigil yet")
        case VIGIL_ARG_NONE: throw bad("argument type \(type) records nothing to filter on")
        default: break
        }
        let values: FilterValues
        switch grammar.parse(f.values) {
        case .success(let v): values = v
        case .failure(let p): throw bad(p.all.map(\.message).joined(separator: "; "))
        }
        out.op = code

        func inline(_ ints: [Int64]) throws(EngineError) {
            guard ints.count <= Int(VIGIL_FILTER_INTS) else { throw bad("at most \(VIGIL_FILTER_INTS) values") }
            for (i, n) in ints.enumerated() { setElement(&out.values, i, n) }
            out.nvalues = UInt32(ints.count)
        }
        switch values {
        case .none:
            break
        case .integers(let ints) where [VIGIL_OP_GT, VIGIL_OP_LT, VIGIL_OP_MASK].contains(code):
            // Several values as Tetragon tests them (any may match): GT the least, LT the
            // greatest, Mask every bit of any value.
            let combined = code == VIGIL_OP_GT ? ints.min()! : code == VIGIL_OP_LT ? ints.max()! : ints.reduce(0, |)
            try inline([combined])
        case .integers(let ints):
            if [VIGIL_OP_PROTOCOL, VIGIL_OP_FAMILY, VIGIL_OP_STATE, VIGIL_OP_FILE_TYPE, VIGIL_OP_NOT_FILE_TYPE].contains(code)
                || ints.count <= Int(VIGIL_FILTER_INTS)
            {
                try inline(ints)
            } else {
                out.set = sets.addIntegers(ints)  // Equal / NotEqual lists longer than the inline values
            }
        case .ranges(let ranges):
            // Long lists of single ports go to the integer set (ranges stay inline, at most VIGIL_FILTER_INTS).
            if ranges.count > Int(VIGIL_FILTER_INTS) && ranges.allSatisfy({ $0.lowerBound == $0.upperBound })
                && [VIGIL_OP_SPORT, VIGIL_OP_NOT_SPORT, VIGIL_OP_DPORT, VIGIL_OP_NOT_DPORT].contains(code)
            {
                out.set = sets.addIntegers(ranges.map(\.lowerBound))
            } else {
                try inline(ranges.map { ($0.lowerBound << 32) | $0.upperBound })
            }
        case .integerSet(let ints, let ranges, let lists):
            guard lists.isEmpty else { throw bad("list:\(lists[0]) was not expanded (spec.lists)") }
            var all = ints
            for r in ranges {
                guard r.upperBound - r.lowerBound < Int64(PolicyLimits.valuesPerArgFilter) else {
                    throw bad(
                        "range \(r.lowerBound):\(r.upperBound) has more than \(PolicyLimits.valuesPerArgFilter) values; InMap keeps each value in the kernel's set"
                    )
                }
                all += Array(r)
            }
            out.set = sets.addIntegers(all)
        case .cidrs(let cidrs):
            out.set = sets.addAddresses(cidrs.map { (bytes: $0.bytes, bits: $0.bits) })
        case .strings(let strings):
            if code == VIGIL_OP_SUBSTRING || code == VIGIL_OP_SUBSTRING_IGNCASE {
                guard strings.count <= Int(VIGIL_SEL_SUBSTRINGS) else { throw bad("at most \(VIGIL_SEL_SUBSTRINGS) SubString values") }
                out.set = sets.addSubstrings(strings, ignoringCase: code == VIGIL_OP_SUBSTRING_IGNCASE)
                out.nvalues = UInt32(strings.count)
                break
            }
            // A resolved file's exactly named files are matched by identity too (FileIdentitySet).
            let identified: Set<UInt32> = [VIGIL_ARG_FILE, VIGIL_ARG_PATH, VIGIL_ARG_FD, VIGIL_ARG_BINPRM, VIGIL_ARG_DENTRY, VIGIL_ARG_KIOCB]
            if identified.contains(kind), [VIGIL_OP_EQ, VIGIL_OP_NEQ, VIGIL_OP_PREFIX, VIGIL_OP_NOT_PREFIX].contains(code) {
                out.id_set = identities.add(strings, prefix: code == VIGIL_OP_PREFIX || code == VIGIL_OP_NOT_PREFIX) ?? 0
            }
            if NameGate.gates(code), NameGate.kinds.contains(kind) {
                nameGates[slot, default: NameGate()].add(strings, identities: out.id_set != 0)
            }
            let inlineable =
                [VIGIL_OP_EQ, VIGIL_OP_NEQ, VIGIL_OP_PREFIX, VIGIL_OP_NOT_PREFIX].contains(code)
                && strings.count <= Int(VIGIL_INLINE_STRINGS) && strings.allSatisfy { $0.utf8.count <= Int(VIGIL_INLINE_STRING_BYTES) }
            if inlineable {
                // Short lists compare inline with masked word compares (no trie lookup in the kernel).
                for (j, v) in strings.enumerated() {
                    var bytes = Array(v.utf8)
                    setElement(&out.inline_lens, j, UInt8(bytes.count))
                    bytes += [UInt8](repeating: 0, count: 16 - bytes.count)
                    setElement(&out.values, 2 * j, bytes[0..<8].withUnsafeBytes { $0.loadUnaligned(as: Int64.self) })
                    setElement(&out.values, 2 * j + 1, bytes[8..<16].withUnsafeBytes { $0.loadUnaligned(as: Int64.self) })
                }
                out.nvalues = UInt32(strings.count)
            } else {
                out.set = sets.addStrings(strings, reversed: code == VIGIL_OP_POSTFIX || code == VIGIL_OP_NOT_POSTFIX)
            }
        }
        return out
    }
}
