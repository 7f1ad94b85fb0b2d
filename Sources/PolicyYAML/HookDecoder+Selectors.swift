import Foundation
import PolicyModel

/// Selectors, filters and actions, with the rules that tie them to the hook's arguments.
extension HookDecoder {
    static let selectorKeys = [
        "matchArgs", "matchData", "matchReturnArgs", "matchPIDs", "matchBinaries", "matchParentBinaries",
        "matchNamespaces", "matchNamespaceChanges", "matchCapabilities", "matchCapabilityChanges",
        "matchActions", "matchReturnActions", "macros",
    ]

    func selector(_ node: YAMLNode, path: String, _ ctx: Context) -> Selector? {
        guard let m = MappingReader(node, path: path, keys: Self.selectorKeys, d) else { return nil }
        var s = Selector()
        s.macros = m.strings("macros").compactMap { name in
            guard shared.macroNames.contains(name.value) else {
                d.error(name.mark, name.path, "no selectorsMacros entry named \"\(name.value)\"\(Suggest.hint(name.value, Array(shared.macroNames)))")
                return nil
            }
            return name.value
        }
        let argFilters = m.items("matchArgs")
        if argFilters.count > PolicyLimits.matchArgsPerSelector {
            d.error(m.mark("matchArgs"), m.sub("matchArgs"), "\(argFilters.count) matchArgs; at most \(PolicyLimits.matchArgsPerSelector) per selector")
        }
        s.matchArgs = argFilters.compactMap { argFilter($0.node, path: $0.path, against: ctx.args, what: "args", ctx) }
        s.matchData = m.items("matchData").compactMap { argFilter($0.node, path: $0.path, against: ctx.data, what: "data", ctx) }
        let returnFilters = m.items("matchReturnArgs")
        if !returnFilters.isEmpty && ctx.kind != .macro && (!ctx.isReturn || ctx.returnArg == nil) {
            d.error(m.keyMark("matchReturnArgs"), m.sub("matchReturnArgs"), "matchReturnArgs needs return: true and a returnArg on the hook")
        } else {
            s.matchReturnArgs = returnFilters.compactMap {
                argFilter($0.node, path: $0.path, against: ctx.returnArg.map { [$0] } ?? [], what: "returnArg", ctx)
            }
        }
        s.matchPIDs = m.items("matchPIDs").compactMap { pidFilter($0.node, path: $0.path) }
        s.matchBinaries = binaryFilters(m, "matchBinaries")
        s.matchParentBinaries = binaryFilters(m, "matchParentBinaries")
        s.matchNamespaces = m.items("matchNamespaces").compactMap { namespaceFilter($0.node, path: $0.path) }
        s.matchNamespaceChanges = m.items("matchNamespaceChanges").compactMap { item in
            guard let f = MappingReader(item.node, path: item.path, keys: ["operator", "values"], d),
                let op = f.enumeration("operator", SetOperator.self, required: "In or NotIn")
            else { return nil }
            let values = f.items("values", required: "namespace kinds, e.g. Mnt, Pid").compactMap {
                Scalars.enumeration($0.node, $0.path, d, NamespaceKind.self)
            }
            return NamespaceChangeFilter(op: op, values: values)
        }
        s.matchCapabilities = m.items("matchCapabilities").compactMap { capabilityFilter($0.node, path: $0.path) }
        s.matchCapabilityChanges = m.items("matchCapabilityChanges").compactMap { capabilityFilter($0.node, path: $0.path) }
        s.matchActions = actions(m, "matchActions", ctx)
        let returnActions = m.items("matchReturnActions")
        if !returnActions.isEmpty && ctx.kind != .macro && !ctx.isReturn {
            d.error(
                m.keyMark("matchReturnActions"), m.sub("matchReturnActions"), "matchReturnActions run when the function returns: set return: true on the hook")
        }
        s.matchReturnActions = actions(m, "matchReturnActions", ctx)
        return s
    }

    // MARK: argument filters

    private func argFilter(_ node: YAMLNode, path: String, against args: [HookArg], what: String, _ ctx: Context) -> ArgFilter? {
        guard let f = MappingReader(node, path: path, keys: ["index", "args", "operator", "values"], d) else { return nil }
        let op = f.enumeration("operator", ArgOperator.self, required: "how to compare, e.g. Equal, Prefix, DAddr")
        let positions = f.items("args").compactMap { Scalars.integer($0.node, $0.path, d, in: 0...Int64(UInt32.max)).map { UInt32($0) } }
        let index = f.uint32("index", required: positions.isEmpty ? "the argument position to test (an index listed in the hook's \(what))" : nil) ?? 0
        guard let op else { return nil }

        // Which declared argument the filter reads: `args: [n]` names a position in the list, else `index`.
        var target: HookArg?
        if ctx.kind != .macro {
            if let p = positions.first {
                if Int(p) < args.count {
                    target = args[Int(p)]
                } else {
                    d.error(f.mark("args"), f.sub("args"), "args position \(p) is past the hook's \(args.count) \(what)")
                    return nil
                }
            } else if ctx.filtersByPosition && what == "args" {
                if Int(index) < args.count {
                    target = args[Int(index)]
                } else {
                    d.error(
                        f.mark("index"), f.sub("index"),
                        "index \(index) is past the tracepoint's \(args.count) args (tracepoint filters count positions in args, from 0)")
                    return nil
                }
            } else if let a = args.first(where: { $0.index == index }) {
                target = a
            } else {
                let defined = args.map { String($0.index) }.joined(separator: ", ")
                d.error(
                    f.mark("index"), f.sub("index"),
                    "no \(what) entry has index \(index)" + (defined.isEmpty ? "; the hook declares no \(what)" : "; declared: \(defined)"))
                return nil
            }
        }
        let values = f.strings("values", required: op.takesNoValues ? nil : "the values to compare with")
        if values.count > PolicyLimits.valuesPerArgFilter {
            d.error(f.mark("values"), f.sub("values"), "\(values.count) values; at most \(PolicyLimits.valuesPerArgFilter)")
        }
        if op.takesNoValues && !values.isEmpty {
            d.error(f.mark("values"), f.sub("values"), "\(op.rawValue) takes no values")
        }
        if let target {
            // One table says which arguments an operator applies to and parses its values, for
            // this check and for the compiler alike (PolicyModel/OperatorRules.swift).
            guard let grammar = op.rule.forms[target.type.family] else {
                let fitting = ArgOperator.allCases.filter { $0.rule.forms[target.type.family] != nil }.map(\.rawValue)
                d.error(
                    f.mark("operator"), f.sub("operator"),
                    "\(op.rawValue) does not apply to a \(target.type.rawValue) argument; operators for \(target.type.rawValue): \(fitting.isEmpty ? "none" : fitting.joined(separator: ", "))"
                )
                return nil
            }
            // A missing or malformed `values` was reported above; an explicit empty list is checked here.
            let listed: Bool = { if let v = f.value("values"), case .sequence = v.value { return true } else { return false } }()
            if case .failure(let problems) = grammar.parse(values.map(\.value)), listed || !values.isEmpty {
                for p in problems.all {
                    if let i = p.index, i < values.count {
                        d.error(values[i].mark, values[i].path, p.message)
                    } else {
                        d.error(f.keyMark("values"), f.sub("values"), "\(op.rawValue) \(p.message)")
                    }
                }
            }
            for v in values where v.value.hasPrefix("list:") && grammar == .integerSet {
                SpecDecoder(d: d).checkListReference(v.value, v.mark, v.path, shared.lists)
            }
        }
        return ArgFilter(index: target?.index ?? index, args: positions, op: op, values: values.map(\.value))
    }

    // MARK: process filters

    private func binaryFilters(_ m: MappingReader, _ key: String) -> [BinaryFilter] {
        let items = m.items(key)
        let filters: [BinaryFilter] = items.compactMap { item in
            guard let f = MappingReader(item.node, path: item.path, keys: ["operator", "values", "followChildren"], d),
                let op = f.enumeration("operator", BinaryOperator.self, required: "In, NotIn, Prefix, NotPrefix, Postfix or NotPostfix")
            else { return nil }
            let values = f.strings("values", required: "binary paths, e.g. /usr/bin/cat")
            if values.count > PolicyLimits.valuesPerBinaryFilter {
                d.error(f.mark("values"), f.sub("values"), "\(values.count) values; at most \(PolicyLimits.valuesPerBinaryFilter)")
            }
            for v in values {
                if (op == .in || op == .notIn) && !v.value.hasPrefix("/") {
                    d.error(
                        v.mark, v.path, "\"\(v.value)\" is not an absolute path: \(op.rawValue) compares the full executable path, e.g. /usr/bin/\(v.value)")
                }
                if v.value.utf8.count > PolicyLimits.stringBytes { d.error(v.mark, v.path, "path longer than \(PolicyLimits.stringBytes) bytes") }
            }
            let follow = f.bool("followChildren") ?? false
            if follow && op != .in && op != .notIn {
                d.error(f.mark("followChildren"), f.sub("followChildren"), "followChildren works with In and NotIn only")
            }
            return BinaryFilter(op: op, values: values.map(\.value), followChildren: follow)
        }
        let followed = filters.filter(\.followChildren).count
        if filters.count - followed > PolicyLimits.binaryFiltersPerSelector {
            d.error(
                m.mark(key), m.sub(key),
                "\(filters.count - followed) \(key) entries; at most \(PolicyLimits.binaryFiltersPerSelector) per selector, plus \(PolicyLimits.followedBinaryFiltersPerSelector) with followChildren (put the values in one entry, or use another selector)"
            )
        }
        if followed > PolicyLimits.followedBinaryFiltersPerSelector {
            d.error(
                m.mark(key), m.sub(key), "\(followed) \(key) entries with followChildren; at most \(PolicyLimits.followedBinaryFiltersPerSelector) per selector"
            )
        }
        if followed > 0 && key == "matchParentBinaries" {
            d.error(m.mark(key), m.sub(key), "followChildren belongs to matchBinaries (it already covers every descendant of the binary)")
        }
        return filters
    }

    private func pidFilter(_ node: YAMLNode, path: String) -> PIDFilter? {
        guard let f = MappingReader(node, path: path, keys: ["operator", "values", "isNamespacePID", "followForks"], d),
            let op = f.enumeration("operator", SetOperator.self, required: "In or NotIn")
        else { return nil }
        let values = f.items("values", required: "process IDs").compactMap {
            Scalars.integer($0.node, $0.path, d, in: 0...Int64(UInt32.max)).map { UInt32($0) }
        }
        if values.count > PolicyLimits.valuesPerPIDFilter {
            d.error(f.mark("values"), f.sub("values"), "\(values.count) PIDs; at most \(PolicyLimits.valuesPerPIDFilter) per matchPIDs entry")
        }
        return PIDFilter(op: op, values: values, isNamespacePID: f.bool("isNamespacePID") ?? false, followForks: f.bool("followForks") ?? false)
    }

    private func namespaceFilter(_ node: YAMLNode, path: String) -> NamespaceFilter? {
        guard let f = MappingReader(node, path: path, keys: ["namespace", "operator", "values"], d),
            let ns = f.enumeration("namespace", NamespaceKind.self, required: "which namespace, e.g. Pid, Mnt, Net"),
            let op = f.enumeration("operator", SetOperator.self, required: "In or NotIn")
        else { return nil }
        let values = f.strings("values", required: "namespace inode numbers or host_ns")
        for v in values where v.value != "host_ns" && PolicyValues.integer(v.value) == nil {
            d.error(v.mark, v.path, "\"\(v.value)\" is neither a namespace inode number nor host_ns")
        }
        return NamespaceFilter(namespace: ns, op: op, values: values.map(\.value))
    }

    private func capabilityFilter(_ node: YAMLNode, path: String) -> CapabilityFilter? {
        guard let f = MappingReader(node, path: path, keys: ["type", "operator", "isNamespaceCapability", "values"], d),
            let op = f.enumeration("operator", SetOperator.self, required: "In or NotIn")
        else { return nil }
        let set = f.enumeration("type", CapabilitySet.self) ?? .effective
        let values = f.items("values", required: "capability names, e.g. CAP_SYS_ADMIN").compactMap {
            Scalars.enumeration($0.node, $0.path, d, CapabilityName.self)
        }
        return CapabilityFilter(set: set, op: op, isNamespaceCapability: f.bool("isNamespaceCapability") ?? false, values: values)
    }

    // MARK: actions

    static let actionKeys = [
        "action", "argError", "argSig", "argFd", "argName", "argUrl", "argFqdn", "argSock", "rateLimit",
        "rateLimitScope", "kernelStackTrace", "userStackTrace", "imaHash", "argIndex", "argValue",
    ]

    private func actions(_ m: MappingReader, _ key: String, _ ctx: Context) -> [Action] {
        let items = m.items(key)
        if items.count > PolicyLimits.actionsPerSelector {
            d.error(m.mark(key), m.sub(key), "\(items.count) actions; at most \(PolicyLimits.actionsPerSelector) per selector")
        }
        return items.compactMap { action($0.node, path: $0.path, ctx) }
    }

    private func action(_ node: YAMLNode, path: String, _ ctx: Context) -> Action? {
        guard let f = MappingReader(node, path: path, keys: Self.actionKeys, d),
            let kind = f.enumeration("action", ActionKind.self, required: "what to do, e.g. Post, Sigkill, Override")
        else { return nil }
        var a = Action(kind: kind)
        a.argError = f.int32("argError")
        a.argSig = f.uint32("argSig")
        a.argFd = f.uint32("argFd")
        a.argName = f.uint32("argName")
        a.argURL = f.string("argUrl")
        a.argFQDN = f.string("argFqdn")
        a.argSock = f.uint32("argSock")
        a.kernelStackTrace = f.bool("kernelStackTrace") ?? false
        a.userStackTrace = f.bool("userStackTrace") ?? false
        a.imaHash = f.bool("imaHash") ?? false
        a.argIndex = f.uint32("argIndex")
        a.argValue = f.int64("argValue")
        if let rate = f.string("rateLimit") {
            if let seconds = Self.rateLimitSeconds(rate) {
                a.rateLimitSeconds = seconds
            } else {
                d.error(
                    f.mark("rateLimit"), f.sub("rateLimit"),
                    "\"\(rate)\" is not a rate limit: a whole number of seconds, optionally with s, m or h (e.g. 30s, 5m, 1h)")
            }
        }
        if let scope = f.enumeration("rateLimitScope", RateLimitScope.self) {
            a.rateLimitScope = scope
            if !f.has("rateLimit") { d.error(f.mark("rateLimitScope"), f.sub("rateLimitScope"), "rateLimitScope needs rateLimit") }
        }

        func requires(_ key: String, _ why: String) {
            if !f.has(key) { f.missing(key, why) }
        }
        func only(_ key: String, _ kinds: [ActionKind]) {
            if f.has(key) && !kinds.contains(kind) {
                d.warning(f.keyMark(key), f.sub(key), "\(key) is ignored by \(kind.rawValue); it belongs to \(kinds.map(\.rawValue).joined(separator: ", "))")
            }
        }
        // Tetragon ignores parameters an action does not use; so do we, with a warning.
        only("rateLimit", [.post])
        only("rateLimitScope", [.post])
        only("kernelStackTrace", [.post])
        only("userStackTrace", [.post])
        only("imaHash", [.post])
        only("argSig", [.signal, .notifyEnforcer])
        only("argError", [.override, .notifyEnforcer])
        only("argUrl", [.getURL])
        only("argFqdn", [.dnsLookup])
        only("argSock", [.trackSock, .untrackSock])
        only("argFd", [.followFD, .unfollowFD, .copyFD])
        only("argName", [.followFD, .copyFD])
        only("argIndex", [.set])
        only("argValue", [.set])

        switch kind {
        case .signal:
            requires("argSig", "the signal number to send, e.g. 9")
            if let sig = a.argSig, !(1...64).contains(sig) { d.error(f.mark("argSig"), f.sub("argSig"), "signal \(sig) is out of range 1...64") }
        case .override:
            requires("argError", "the error to return, e.g. -1 (EPERM)")
            if !ctx.overrideAllowed {
                d.error(
                    f.mark("action"), f.sub("action"),
                    "Override cannot change what a \(ctx.kindName) returns; use it on lsmhooks or kprobes (syscalls, security_* functions), or use Sigkill")
            }
        case .getURL: requires("argUrl", "the URL to fetch")
        case .dnsLookup: requires("argFqdn", "the name to resolve")
        case .trackSock, .untrackSock:
            // argSock defaults to 0, the first arg (as in Tetragon).
            if let s = a.argSock, ctx.kind != .macro, Int(s) >= ctx.args.count {
                d.error(f.mark("argSock"), f.sub("argSock"), "argSock \(s) is past the hook's \(ctx.args.count) args")
            }
        case .notifyEnforcer:
            if !shared.hasEnforcers { d.error(f.mark("action"), f.sub("action"), "NotifyEnforcer needs spec.enforcers (which syscalls the enforcer covers)") }
        case .set:
            if ctx.kind != .usdt && ctx.kind != .macro {
                d.error(f.mark("action"), f.sub("action"), "Set writes a USDT argument: it works on usdts hooks only")
            }
            requires("argIndex", "which USDT argument to set")
            requires("argValue", "the value to write")
        case .post:
            if a.imaHash && ctx.kind != .lsm && ctx.kind != .macro { d.error(f.mark("imaHash"), f.sub("imaHash"), "imaHash is available on lsmhooks only") }
        case .noPost, .sigkill, .followFD, .unfollowFD, .copyFD, .cleanupEnforcerNotification:
            break
        }
        return a
    }

    /// `"30"`, `"30s"`, `"5m"`, `"1h"` in seconds.
    static func rateLimitSeconds(_ text: String) -> UInt64? {
        var digits = Substring(text)
        var scale: UInt64 = 1
        if let last = text.last, "smh".contains(last) {
            digits = digits.dropLast()
            scale = last == "s" ? 1 : last == "m" ? 60 : 3600
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), let n = UInt64(digits), n > 0 else { return nil }
        let (product, overflow) = n.multipliedReportingOverflow(by: scale)
        return overflow ? nil : product
    }
}

extension HookDecoder.Context {
    var kindName: String {
        switch kind {
        case .kprobe(_, _, let fentry): fentry ? "fentry" : "kprobe"
        case .tracepoint: "tracepoint"
        case .lsm: "LSM hook"
        case .uprobe: "uprobe"
        case .usdt: "USDT"
        case .macro: "selector macro"
        }
    }
}
