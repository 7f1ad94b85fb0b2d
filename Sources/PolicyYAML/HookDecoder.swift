import PolicyModel

/// Decodes hook sections and their arguments; selectors are in HookDecoder+Selectors.swift.
struct HookDecoder {
    let d: Diagnostics
    let shared: SharedDefinitions

    /// What a selector is checked against: the hook kind and its arguments.
    struct Context {
        enum Kind: Equatable {
            case kprobe(call: String, syscall: Bool, fentry: Bool)
            case tracepoint, lsm, uprobe, usdt
            /// selectorsMacros: checked where used, not here.
            case macro
        }
        let kind: Kind
        let args: [HookArg]
        /// Tracepoint filters name a position in `args` (whose indexes are format fields);
        /// function hooks name the argument's `index`.
        var filtersByPosition: Bool { kind == .tracepoint }
        let data: [HookArg]
        let returnArg: HookArg?
        let isReturn: Bool
        let path: String

        /// Whether an Override can work here at all (the kernel still decides for other kprobes).
        var overrideAllowed: Bool {
            switch kind {
            case .lsm, .macro: true
            case .kprobe: true
            case .tracepoint, .uprobe, .usdt: false
            }
        }
    }

    static let argKeys = ["index", "type", "label", "resolve", "maxData", "returnCopy", "sizeArgIndex", "source", "btfType", "btfTypeModule"]
    static let commonKeys = ["args", "selectors", "message", "tags"]

    func kprobe(_ node: YAMLNode, path: String, fentry: Bool) -> KProbeSpec? {
        let keys = ["call", "syscall", "return", "data", "returnArg", "returnArgAction", "ignore"] + Self.commonKeys
        guard let m = MappingReader(node, path: path, keys: keys, d),
            let call = m.string("call", required: "the kernel function (or list:NAME) to hook")
        else { return nil }
        var spec = KProbeSpec(call: call)
        if call.isEmpty { d.error(m.mark("call"), m.sub("call"), "call is empty") }
        if call.hasPrefix("list:") {
            SpecDecoder(d: d).checkListReference(call, m.mark("call"), m.sub("call"), shared.lists)
        }
        spec.syscall = m.bool("syscall") ?? true
        spec.isReturn = m.bool("return") ?? false
        spec.data = args(m, "data", maxIndex: nil, hasReturn: spec.isReturn)
        spec.returnArg = m.value("returnArg").flatMap { arg($0, path: m.sub("returnArg"), maxIndex: nil, hasReturn: true) }
        if let action = m.enumeration("returnArgAction", ActionKind.self) {
            if ![.post, .trackSock, .untrackSock].contains(action) {
                d.error(m.mark("returnArgAction"), m.sub("returnArgAction"), "returnArgAction is Post, TrackSock or UntrackSock, found \(action.rawValue)")
            }
            spec.returnArgAction = action
        }
        if spec.isReturn && spec.returnArg == nil && !m.has("returnArg") {
            d.error(m.mark("return"), m.sub("return"), "return: true needs returnArg (the type of the return value, e.g. {index: 0, type: int})")
        }
        if !spec.isReturn && m.has("returnArg") {
            d.warning(m.keyMark("returnArg"), m.sub("returnArg"), "returnArg is ignored without return: true")
        }
        if let ignore = m.value("ignore"), let i = MappingReader(ignore, path: m.sub("ignore"), keys: ["callNotFound"], d) {
            spec.ignoreCallNotFound = i.bool("callNotFound") ?? false
        }
        let kind = Context.Kind.kprobe(call: call, syscall: spec.syscall, fentry: fentry)
        spec.common = common(m, kind: kind, data: spec.data, returnArg: spec.returnArg, isReturn: spec.isReturn, maxIndex: PolicyLimits.maxFunctionArgIndex)
        return spec
    }

    func tracepoint(_ node: YAMLNode, path: String) -> TracepointSpec? {
        guard let m = MappingReader(node, path: path, keys: ["subsystem", "event", "raw"] + Self.commonKeys, d) else { return nil }
        let subsystem = m.string("subsystem", required: "the tracepoint's group, e.g. syscalls")
        let event = m.string("event", required: "the tracepoint's name, e.g. sys_enter_openat")
        guard let subsystem, let event else { return nil }
        var spec = TracepointSpec(subsystem: subsystem, event: event)
        spec.raw = m.bool("raw") ?? false
        // Tracepoint argument indexes are format-field positions, checked at load against the kernel.
        spec.common = common(m, kind: .tracepoint, data: [], returnArg: nil, isReturn: false, maxIndex: nil)
        return spec
    }

    func lsmHook(_ node: YAMLNode, path: String) -> LSMHookSpec? {
        guard let m = MappingReader(node, path: path, keys: ["hook"] + Self.commonKeys, d),
            let hook = m.string("hook", required: "the LSM hook name without security_, e.g. file_open")
        else { return nil }
        if hook.hasPrefix("security_") || hook.hasPrefix("bpf_lsm_") {
            let bare = hook.hasPrefix("security_") ? String(hook.dropFirst(9)) : String(hook.dropFirst(8))
            d.error(m.mark("hook"), m.sub("hook"), "LSM hooks are named without a prefix: write \"\(bare)\"")
        }
        var spec = LSMHookSpec(hook: hook)
        spec.common = common(m, kind: .lsm, data: [], returnArg: nil, isReturn: false, maxIndex: PolicyLimits.maxFunctionArgIndex)
        return spec
    }

    func uprobe(_ node: YAMLNode, path: String) -> UProbeSpec? {
        let keys = ["path", "symbols", "offsets", "refCtrOffsets", "addrs", "btfPath", "resolvePathInContainer"] + Self.commonKeys
        guard let m = MappingReader(node, path: path, keys: keys, d),
            let file = m.string("path", required: "the binary or library to probe")
        else { return nil }
        var spec = UProbeSpec(path: file)
        spec.symbols = m.strings("symbols").map(\.value)
        spec.offsets = numbers(m, "offsets")
        spec.refCtrOffsets = numbers(m, "refCtrOffsets")
        spec.addrs = numbers(m, "addrs")
        spec.resolvePathInContainer = m.bool("resolvePathInContainer") ?? false
        if spec.symbols.isEmpty && spec.offsets.isEmpty && spec.addrs.isEmpty {
            d.error(m.node.mark, m.sub("symbols"), "a uprobe needs symbols, offsets or addrs")
        }
        spec.common = common(m, kind: .uprobe, data: [], returnArg: nil, isReturn: false, maxIndex: PolicyLimits.maxFunctionArgIndex)
        return spec
    }

    func usdt(_ node: YAMLNode, path: String) -> USDTSpec? {
        guard let m = MappingReader(node, path: path, keys: ["path", "provider", "name", "btfPath"] + Self.commonKeys, d) else { return nil }
        let file = m.string("path", required: "the binary with the USDT note")
        let provider = m.string("provider", required: "the USDT provider")
        let name = m.string("name", required: "the USDT probe name")
        guard let file, let provider, let name else { return nil }
        var spec = USDTSpec(path: file, provider: provider, name: name)
        spec.common = common(m, kind: .usdt, data: [], returnArg: nil, isReturn: false, maxIndex: nil)
        return spec
    }

    private func numbers(_ m: MappingReader, _ key: String) -> [UInt64] {
        m.items(key).compactMap { item in
            Scalars.integer(item.node, item.path, d, in: 0...Int64.max).map { UInt64($0) }
        }
    }

    /// args, selectors, message and tags, checked against the hook's arguments.
    private func common(_ m: MappingReader, kind: Context.Kind, data: [HookArg], returnArg: HookArg?, isReturn: Bool, maxIndex: UInt32?) -> HookCommon {
        var c = HookCommon()
        c.args = args(m, "args", maxIndex: maxIndex, hasReturn: isReturn)
        if c.args.count > PolicyLimits.argsPerHook {
            d.error(m.mark("args"), m.sub("args"), "\(c.args.count) args; at most \(PolicyLimits.argsPerHook) per hook")
        }
        if let message = m.string("message"), message.count > PolicyLimits.messageLength {
            d.error(m.mark("message"), m.sub("message"), "message is \(message.count) characters; at most \(PolicyLimits.messageLength)")
        } else {
            c.message = m.string("message")
        }
        let tags = m.strings("tags")
        if tags.count > PolicyLimits.tagsPerHook {
            d.error(m.mark("tags"), m.sub("tags"), "\(tags.count) tags; at most \(PolicyLimits.tagsPerHook)")
        }
        for t in tags where t.value.count > PolicyLimits.tagLength {
            d.error(t.mark, m.sub("tags"), "tag is \(t.value.count) characters; at most \(PolicyLimits.tagLength)")
        }
        c.tags = tags.map(\.value)
        let selectors = m.items("selectors")
        if selectors.count > PolicyLimits.selectorsPerHook {
            d.error(
                m.mark("selectors"), m.sub("selectors"),
                "\(selectors.count) selectors; at most \(PolicyLimits.selectorsPerHook) per hook (split the hook into several)")
        }
        let ctx = Context(kind: kind, args: c.args, data: data, returnArg: returnArg, isReturn: isReturn, path: m.path)
        c.selectors = selectors.compactMap { selector($0.node, path: $0.path, ctx) }
        return c
    }

    private func args(_ m: MappingReader, _ key: String, maxIndex: UInt32?, hasReturn: Bool) -> [HookArg] {
        m.items(key).compactMap { arg($0.node, path: $0.path, maxIndex: maxIndex, hasReturn: hasReturn) }
    }

    func arg(_ node: YAMLNode, path: String, maxIndex: UInt32?, hasReturn: Bool) -> HookArg? {
        guard let a = MappingReader(node, path: path, keys: Self.argKeys, d) else { return nil }
        let index = a.uint32("index", required: "the argument's position")
        let type = a.enumeration("type", ArgType.self, required: "the argument's type, e.g. int, string, file")
        guard let index, let type else { return nil }
        if let maxIndex, index > maxIndex {
            d.error(a.mark("index"), a.sub("index"), "index \(index) is past the last function argument (\(maxIndex))")
        }
        var arg = HookArg(index: index, type: type)
        arg.label = a.string("label")
        arg.resolve = a.string("resolve")
        arg.maxData = a.bool("maxData") ?? false
        arg.returnCopy = a.bool("returnCopy") ?? false
        arg.source = a.string("source")
        arg.btfType = a.string("btfType")
        arg.btfTypeModule = a.string("btfTypeModule")
        if let size = a.uint32("sizeArgIndex") {
            // 1-based in Tetragon: sizeArgIndex N means function argument N-1 holds the size.
            if !type.isBuffer {
                d.error(a.mark("sizeArgIndex"), a.sub("sizeArgIndex"), "sizeArgIndex applies to char_buf and char_iovec, not \(type.rawValue)")
            } else if size == 0 || size > PolicyLimits.maxFunctionArgIndex + 1 {
                d.error(
                    a.mark("sizeArgIndex"), a.sub("sizeArgIndex"),
                    "sizeArgIndex is 1-based (1...\(PolicyLimits.maxFunctionArgIndex + 1)): N names function argument N-1")
            } else {
                arg.sizeArgIndex = size
            }
        }
        if arg.maxData && !type.isBuffer {
            d.warning(a.mark("maxData"), a.sub("maxData"), "maxData is ignored for \(type.rawValue): it applies to char_buf and char_iovec")
        }
        if arg.returnCopy && !type.isBuffer {
            d.error(a.mark("returnCopy"), a.sub("returnCopy"), "returnCopy applies to char_buf and char_iovec, not \(type.rawValue)")
        } else if arg.returnCopy && !hasReturn {
            d.error(a.mark("returnCopy"), a.sub("returnCopy"), "returnCopy reads the buffer when the function returns: set return: true on the hook")
        }
        if let source = arg.source, source != "current_task" {
            d.error(a.mark("source"), a.sub("source"), "source is \"current_task\" (data args only), found \"\(source)\"")
        }
        return arg
    }
}
