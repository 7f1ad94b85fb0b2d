import PolicyModel

/// Decodes `spec`: shared definitions first (lists, macros, enforcers, options), so that
/// hooks can be checked against them, then every hook section.
struct SpecDecoder {
    let d: Diagnostics

    static let keys = [
        "kprobes", "fentries", "tracepoints", "lsmhooks", "uprobes", "usdts", "lists", "enforcers",
        "options", "loader", "podSelector", "containerSelector", "hostSelector", "selectorsMacros",
    ]

    /// Option names Vigil understands (Tetragon's, plus Vigil's own `allow-partial-load`).
    static let optionNames = ["policy-mode", "disable-kprobe-multi", "disable-uprobe-multi", "allow-partial-load"]

    func spec(_ node: YAMLNode, kind: TracingPolicy.Kind?) -> PolicySpec {
        var spec = PolicySpec()
        guard let m = MappingReader(node, path: "spec", keys: Self.keys, d) else { return spec }
        spec.loader = m.bool("loader") ?? false
        spec.lists = lists(m)
        spec.options = options(m)
        for item in m.items("enforcers") {
            guard let e = MappingReader(item.node, path: item.path, keys: ["calls"], d) else { continue }
            let calls = e.strings("calls", required: "the syscalls or list:NAME the enforcer covers")
            for call in calls where call.value.hasPrefix("list:") { checkListReference(call.value, call.mark, call.path, spec.lists) }
            spec.enforcers.append(calls.map(\.value))
        }
        spec.podSelector = labelSelector(m, "podSelector")
        spec.containerSelector = labelSelector(m, "containerSelector")
        spec.hostSelector = labelSelector(m, "hostSelector")
        if let host = spec.hostSelector {
            if kind == .tracingPolicyNamespaced {
                d.error(m.keyMark("hostSelector"), "spec.hostSelector", "TracingPolicyNamespaced cannot have a hostSelector; remove it")
            } else if !host.isEmpty {
                d.error(m.mark("hostSelector"), "spec.hostSelector", "hostSelector can only be null or {} (all hosts)")
            }
        }

        let shared = SharedDefinitions(lists: spec.lists, hasEnforcers: !spec.enforcers.isEmpty, macroNames: macroNames(m))
        let hooks = HookDecoder(d: d, shared: shared)
        for (name, value) in m.pairs("selectorsMacros") {
            guard let n = name.scalar else { continue }
            let ctx = HookDecoder.Context(kind: .macro, args: [], data: [], returnArg: nil, isReturn: false, path: "spec.selectorsMacros.\(n)")
            if let sel = hooks.selector(value, path: "spec.selectorsMacros.\(n)", ctx) { spec.selectorsMacros[n] = sel }
        }
        spec.kprobes = m.items("kprobes").compactMap { hooks.kprobe($0.node, path: $0.path, fentry: false) }
        spec.fentries = m.items("fentries").compactMap { hooks.kprobe($0.node, path: $0.path, fentry: true) }
        spec.tracepoints = m.items("tracepoints").compactMap { hooks.tracepoint($0.node, path: $0.path) }
        spec.lsmHooks = m.items("lsmhooks").compactMap { hooks.lsmHook($0.node, path: $0.path) }
        spec.uprobes = m.items("uprobes").compactMap { hooks.uprobe($0.node, path: $0.path) }
        spec.usdts = m.items("usdts").compactMap { hooks.usdt($0.node, path: $0.path) }
        return spec
    }

    private func macroNames(_ m: MappingReader) -> Set<String> { Set(m.pairs("selectorsMacros").compactMap { $0.key.scalar }) }

    private func lists(_ m: MappingReader) -> [ListSpec] {
        var out: [ListSpec] = []
        var seen: Set<String> = []
        for item in m.items("lists") {
            guard let l = MappingReader(item.node, path: item.path, keys: ["name", "type", "values", "pattern", "validated"], d),
                let name = l.string("name", required: "lists are referenced as list:NAME")
            else { continue }
            if !seen.insert(name).inserted { d.error(l.mark("name"), l.sub("name"), "list \"\(name)\" is defined twice") }
            let kind = l.has("type") ? l.enumeration("type", ListSpec.Kind.self) : .syscalls
            let values = l.strings("values").map(\.value)
            let pattern = l.string("pattern")
            if kind == .generatedFtrace && pattern == nil {
                d.error(l.node.mark, l.sub("pattern"), "a generated_ftrace list needs a pattern (a regex over kernel function names)")
            }
            if kind == .syscalls && values.isEmpty {
                d.error(l.node.mark, l.sub("values"), "a syscalls list needs values (syscall names)")
            }
            guard let kind else { continue }
            out.append(ListSpec(name: name, kind: kind, values: values, pattern: pattern, validated: l.bool("validated") ?? false))
        }
        return out
    }

    private func options(_ m: MappingReader) -> [OptionSpec] {
        m.items("options").compactMap { item in
            guard let o = MappingReader(item.node, path: item.path, keys: ["name", "value"], d),
                let name = o.string("name", required: "an option name, e.g. policy-mode")
            else { return nil }
            let value = o.string("value") ?? ""
            guard Self.optionNames.contains(name) else {
                d.error(
                    o.mark("name"), o.sub("name"),
                    "unknown option \"\(name)\"\(Suggest.hint(name, Self.optionNames)); known: \(Self.optionNames.joined(separator: ", "))")
                return nil
            }
            if name == "policy-mode" && PolicyMode(rawValue: value) == nil {
                d.error(
                    o.mark("value"), o.sub("value"), "policy-mode is \"enforce\" or \"monitor\", found \"\(value)\"\(Suggest.hint(value, PolicyMode.spellings))"
                )
            } else if name != "policy-mode" && !["", "true", "false", "1", "0"].contains(value) {
                d.error(o.mark("value"), o.sub("value"), "\(name) takes true or false, found \"\(value)\"")
            }
            return OptionSpec(name: name, value: value)
        }
    }

    private func labelSelector(_ m: MappingReader, _ key: String) -> LabelSelector? {
        guard let node = m.value(key) else { return nil }
        guard let s = MappingReader(node, path: m.sub(key), keys: ["matchLabels", "matchExpressions"], d) else { return nil }
        var sel = LabelSelector()
        for (k, v) in s.pairs("matchLabels") {
            guard let ks = k.scalar, let vs = v.scalar else {
                d.error(v.mark, s.sub("matchLabels"), "labels are string: string")
                continue
            }
            sel.matchLabels[ks] = vs
        }
        for item in s.items("matchExpressions") {
            guard let e = MappingReader(item.node, path: item.path, keys: ["key", "operator", "values"], d),
                let key = e.string("key", required: "the label key"),
                let op = e.enumeration("operator", LabelSelector.Requirement.Operator.self, required: "In, NotIn, Exists or DoesNotExist")
            else { continue }
            let values = e.strings("values").map(\.value)
            if (op == .in || op == .notIn) && values.isEmpty { d.error(e.node.mark, e.sub("values"), "\(op.rawValue) needs values") }
            if (op == .exists || op == .doesNotExist) && !values.isEmpty { d.error(e.mark("values"), e.sub("values"), "\(op.rawValue) takes no values") }
            sel.matchExpressions.append(.init(key: key, op: op, values: values))
        }
        return sel
    }

    func checkListReference(_ value: String, _ mark: SourceMark, _ path: String, _ lists: [ListSpec]) {
        let name = String(value.dropFirst("list:".count))
        if !lists.contains(where: { $0.name == name }) {
            let names = lists.map(\.name)
            d.error(
                mark, path,
                "\"\(value)\" names no list in spec.lists"
                    + (names.isEmpty ? " (there are none)" : "\(Suggest.hint(name, names)); defined: \(names.joined(separator: ", "))"))
        }
    }
}

/// What hooks may refer to across the spec.
struct SharedDefinitions {
    let lists: [ListSpec]
    let hasEnforcers: Bool
    let macroNames: Set<String>
}
