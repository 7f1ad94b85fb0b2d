import Foundation
import AgentCore
import CVigilABI
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
        for (key, filters) in [("matchBinaries", s.matchBinaries), ("matchParentBinaries", s.matchParentBinaries)] {
            if filters.count > 1 { throw unsupported(key, "one entry per selector (as Tetragon)") }
            guard let b = filters.first else { continue }
            if b.followChildren { throw unsupported("\(key).followChildren") }
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
            if key == "matchBinaries" {
                (out.binary_op, out.binary_set) = (op, set)
            } else {
                (out.parent_binary_op, out.parent_binary_set) = (op, set)
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
                act.kind = VIGIL_ACT_POST
                if let r = a.rateLimitSeconds { act.rate_ns = r * 1_000_000_000 }
                act.scope = a.rateLimitScope == .thread ? VIGIL_SCOPE_THREAD : a.rateLimitScope == .process ? VIGIL_SCOPE_PROCESS : VIGIL_SCOPE_GLOBAL
            case .noPost:
                act.kind = VIGIL_ACT_NOPOST
            case .sigkill, .signal:
                act.kind = a.kind == .sigkill ? VIGIL_ACT_SIGKILL : VIGIL_ACT_SIGNAL
                if a.kind == .signal { act.arg = Int32(a.argSig ?? 9) }
            case .override:
                guard flavour.canOverride || monitor else {
                    throw unsupported("matchActions[\(i)]", "Override needs the hook placed as BPF-LSM or fmod_ret (it is placed as \(flavour.rawValue))")
                }
                act.kind = VIGIL_ACT_OVERRIDE
                let e = a.argError ?? -1
                act.arg = e > 0 ? -e : e
            case .getURL, .dnsLookup:
                // carried out by the agent for the posted record: a NoPost would leave it nothing to act on
                if actions.contains(where: { $0.kind == .noPost }) {
                    throw unsupported("matchActions[\(i)]", "\(a.kind.rawValue) is carried out by the agent for the posted event; NoPost in the same selector leaves nothing to act on")
                }
                if a.kind == .getURL {
                    switch HTTPURL.parse(a.argURL ?? "") {
                    case .success(let url): userActions.append(.getURL(url))
                    case .failure(let why): throw unsupported("matchActions[\(i)].argUrl", why.description)
                    }
                    act.kind = VIGIL_ACT_GET_URL
                } else {
                    let name = a.argFQDN ?? ""
                    guard !name.isEmpty, name.utf8.count <= 253 else { throw unsupported("matchActions[\(i)].argFqdn", "a host name of 1 to 253 bytes") }
                    userActions.append(.dnsLookup(name))
                    act.kind = VIGIL_ACT_DNS_LOOKUP
                }
            case .trackSock, .untrackSock:
                act.kind = a.kind == .trackSock ? VIGIL_ACT_TRACK_SOCK : VIGIL_ACT_UNTRACK_SOCK
                act.arg = Int32(try socketSlot(Int(a.argSock ?? 0), what: "matchActions[\(i)].argSock"))
            default:
                throw unsupported("matchActions[\(i)]", "action \(a.kind.rawValue) is not implemented by Vigil's engine")
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
            throw .unsupported("\(what): argument \(position) is \(slots[position].arg.type.rawValue); TrackSock and UntrackSock take a sock or socket argument")
        }
        return position
    }

    func slot(of f: ArgFilter) -> Int? {
        if let p = f.args.first { return Int(p) < slots.count ? Int(p) : nil }
        return slots.firstIndex { $0.arg.index == f.index }
    }

    mutating func compileArgFilter(_ f: ArgFilter, path: String, slotOverride: Int? = nil) throws(EngineError) -> vigil_arg_filter {
        guard let slot = slotOverride ?? slot(of: f) else { throw .unsupported("\(path): no recorded argument for index \(f.index)") }
        let layout = slots[slot].layout
        var out = vigil_arg_filter()
        out.slot = UInt32(slot)
        func bad(_ why: String) -> EngineError { .unsupported("\(path): \(why)") }
        let type = slots[slot].arg.type.rawValue

        switch layout.kind {
        // an fd compares as a number under integer operators, as its path under string ones
        case let k where k == VIGIL_ARG_INT || (k == VIGIL_ARG_FD && Self.integerOps[f.op] != nil):
            guard let op = Self.integerOps[f.op] else { throw bad("operator \(f.op.rawValue) does not apply to \(type)") }
            out.op = op
            if op == VIGIL_OP_IN_RANGE || op == VIGIL_OP_NOT_IN_RANGE {
                try fillRanges(&out, f.values, bad)
                break
            }
            var ints: [Int64] = []
            for v in f.values {
                guard let n = Self.parseInteger(v) else { throw bad("\"\(v)\" is not an integer") }
                ints.append(n)
            }
            if op == VIGIL_OP_IN_MAP || op == VIGIL_OP_NOT_IN_MAP || ints.count > Int(VIGIL_FILTER_INTS) {
                out.set = sets.addIntegers(ints)
            } else {
                for (i, n) in ints.enumerated() { setElement(&out.values, i, n) }
                out.nvalues = UInt32(ints.count)
            }
        case VIGIL_ARG_CRED, VIGIL_ARG_USER_NS:
            throw bad("filters on \(type) arguments are not run in the kernel by Vigil yet")
        case VIGIL_ARG_SOCK, VIGIL_ARG_SOCKET, VIGIL_ARG_SOCKADDR, VIGIL_ARG_SKB:
            guard let op = Self.socketOps[f.op] else { throw bad("operator \(f.op.rawValue) does not apply to \(type)") }
            out.op = op
            switch op {
            case VIGIL_OP_SADDR, VIGIL_OP_NOT_SADDR, VIGIL_OP_DADDR, VIGIL_OP_NOT_DADDR:
                var cidrs: [(bytes: [UInt8], bits: Int)] = []
                for v in f.values {
                    guard let c = ValueSets.parseCIDR(v) else { throw bad("\"\(v)\" is not an address or CIDR") }
                    cidrs.append(c)
                }
                out.set = sets.addAddresses(cidrs)
            case VIGIL_OP_PROTOCOL, VIGIL_OP_FAMILY, VIGIL_OP_STATE:
                let table = op == VIGIL_OP_PROTOCOL ? Self.protocols : op == VIGIL_OP_FAMILY ? Self.families : Self.tcpStates
                guard f.values.count <= Int(VIGIL_FILTER_INTS) else { throw bad("at most \(VIGIL_FILTER_INTS) values") }
                for (i, v) in f.values.enumerated() {
                    guard let n = table[v] ?? Self.parseInteger(v) else { throw bad("unknown value \"\(v)\"") }
                    setElement(&out.values, i, n)
                }
                out.nvalues = UInt32(f.values.count)
            case VIGIL_OP_SPORT_PRIV, VIGIL_OP_NOT_SPORT_PRIV, VIGIL_OP_DPORT_PRIV, VIGIL_OP_NOT_DPORT_PRIV:
                break
            default:
                // Long lists of single ports go to the integer set (ranges stay inline, at most VIGIL_FILTER_INTS).
                let singles = f.values.compactMap(Self.parseInteger)
                if f.values.count > Int(VIGIL_FILTER_INTS) && singles.count == f.values.count && singles.allSatisfy({ (0...65535).contains($0) }) {
                    out.set = sets.addIntegers(singles)
                } else {
                    try fillRanges(&out, f.values, bad)
                }
            }
        case VIGIL_ARG_NONE:
            throw bad("argument type \(type) records nothing to filter on")
        default: // strings, buffers, paths (and fd paths)
            guard let op = Self.stringOps[f.op] else { throw bad("operator \(f.op.rawValue) does not apply to \(type)") }
            out.op = op
            if let long = f.values.first(where: { $0.utf8.count > Int(VIGIL_STRING_KEY_BYTES) }) {
                throw bad("value \"\(long.prefix(40))...\" is longer than \(VIGIL_STRING_KEY_BYTES) bytes")
            }
            let inlineable = [VIGIL_OP_EQ, VIGIL_OP_NEQ, VIGIL_OP_PREFIX, VIGIL_OP_NOT_PREFIX].contains(op)
                && f.values.count <= Int(VIGIL_INLINE_STRINGS) && f.values.allSatisfy { $0.utf8.count <= Int(VIGIL_INLINE_STRING_BYTES) }
            if inlineable {
                // Short lists compare inline with masked word compares (no trie lookup in the kernel).
                for (j, v) in f.values.enumerated() {
                    var bytes = Array(v.utf8)
                    setElement(&out.inline_lens, j, UInt8(bytes.count))
                    bytes += [UInt8](repeating: 0, count: 16 - bytes.count)
                    setElement(&out.values, 2 * j, bytes[0..<8].withUnsafeBytes { $0.loadUnaligned(as: Int64.self) })
                    setElement(&out.values, 2 * j + 1, bytes[8..<16].withUnsafeBytes { $0.loadUnaligned(as: Int64.self) })
                }
                out.nvalues = UInt32(f.values.count)
            } else {
                out.set = sets.addStrings(f.values, reversed: op == VIGIL_OP_POSTFIX || op == VIGIL_OP_NOT_POSTFIX)
            }
        }
        return out
    }

    private func fillRanges(_ out: inout vigil_arg_filter, _ values: [String], _ bad: (String) -> EngineError) throws(EngineError) {
        guard values.count <= Int(VIGIL_FILTER_INTS) else { throw bad("at most \(VIGIL_FILTER_INTS) values or ranges") }
        for (i, v) in values.enumerated() {
            let parts = v.split(separator: ":", maxSplits: 1).map(String.init)
            guard let lo = parts.first.flatMap(Self.parseInteger), let hi = parts.count > 1 ? Self.parseInteger(parts[1]) : lo,
                  lo >= 0, hi >= lo, hi <= Int64(UInt32.max)
            else { throw bad("\"\(v)\" is not a value or LOW:HIGH range") }
            setElement(&out.values, i, (lo << 32) | hi)
        }
        out.nvalues = UInt32(values.count)
    }

    static let integerOps: [ArgOperator: UInt32] = [
        .equal: VIGIL_OP_EQ, .notEqual: VIGIL_OP_NEQ, .greaterThan: VIGIL_OP_GT, .gt: VIGIL_OP_GT,
        .lessThan: VIGIL_OP_LT, .lt: VIGIL_OP_LT, .mask: VIGIL_OP_MASK, .inRange: VIGIL_OP_IN_RANGE,
        .notInRange: VIGIL_OP_NOT_IN_RANGE, .inMap: VIGIL_OP_IN_MAP, .notInMap: VIGIL_OP_NOT_IN_MAP,
    ]
    static let stringOps: [ArgOperator: UInt32] = [
        .equal: VIGIL_OP_EQ, .notEqual: VIGIL_OP_NEQ, .prefix: VIGIL_OP_PREFIX, .notPrefix: VIGIL_OP_NOT_PREFIX,
        .postfix: VIGIL_OP_POSTFIX, .notPostfix: VIGIL_OP_NOT_POSTFIX,
    ]
    static let socketOps: [ArgOperator: UInt32] = [
        .sPort: VIGIL_OP_SPORT, .notSPort: VIGIL_OP_NOT_SPORT, .dPort: VIGIL_OP_DPORT, .notDPort: VIGIL_OP_NOT_DPORT,
        .sPortPriv: VIGIL_OP_SPORT_PRIV, .notSPortPriv: VIGIL_OP_NOT_SPORT_PRIV, .dPortPriv: VIGIL_OP_DPORT_PRIV,
        .notDPortPriv: VIGIL_OP_NOT_DPORT_PRIV, .sAddr: VIGIL_OP_SADDR, .notSAddr: VIGIL_OP_NOT_SADDR,
        .dAddr: VIGIL_OP_DADDR, .notDAddr: VIGIL_OP_NOT_DADDR, .proto: VIGIL_OP_PROTOCOL, .family: VIGIL_OP_FAMILY,
        .state: VIGIL_OP_STATE,
    ]
    static let protocols: [String: Int64] = ["IPPROTO_IP": 0, "IPPROTO_ICMP": 1, "IPPROTO_TCP": 6, "IPPROTO_UDP": 17,
                                             "IPPROTO_ICMPV6": 58, "IPPROTO_SCTP": 132, "IPPROTO_RAW": 255]
    /// The kernel's TCP states (include/net/tcp_states.h), as Tetragon's State operator names them.
    static let tcpStates: [String: Int64] = [
        "TCP_ESTABLISHED": 1, "TCP_SYN_SENT": 2, "TCP_SYN_RECV": 3, "TCP_FIN_WAIT1": 4, "TCP_FIN_WAIT2": 5, "TCP_TIME_WAIT": 6,
        "TCP_CLOSE": 7, "TCP_CLOSE_WAIT": 8, "TCP_LAST_ACK": 9, "TCP_LISTEN": 10, "TCP_CLOSING": 11, "TCP_NEW_SYN_RECV": 12,
    ]
    static let families: [String: Int64] = ["AF_UNIX": 1, "AF_LOCAL": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16, "AF_PACKET": 17]

    /// Decimal, 0x hex or 0 octal, optionally negative (Tetragon's values are strings).
    static func parseInteger(_ text: String) -> Int64? {
        var t = text.trimmingCharacters(in: .whitespaces)
        var negative = false
        if t.hasPrefix("-") { negative = true; t.removeFirst() }
        let v: UInt64?
        if t.hasPrefix("0x") || t.hasPrefix("0X") { v = UInt64(t.dropFirst(2), radix: 16) }
        else if t.count > 1 && t.hasPrefix("0") { v = UInt64(t.dropFirst(), radix: 8) }
        else { v = UInt64(t) }
        guard let v else { return nil }
        return negative ? -Int64(bitPattern: v) : Int64(bitPattern: v)
    }
}
