import PolicyModel

/// `list:NAME` as a matchArgs value: the numbers of the syscalls a `spec.lists` entry names
/// (Tetragon's way to filter raw_syscalls' `id` with InMap), substituted before the
/// selectors compile, so every operator sees plain integers.
enum SyscallListValues {
    /// `selectors` with each `list:NAME` value replaced by the list's syscall numbers.
    static func expand(_ selectors: [Selector], lists: [ListSpec], path: String) -> Result<[Selector], EngineError> {
        var out = selectors
        for (i, s) in selectors.enumerated() {
            for (key, filters) in [("matchArgs", s.matchArgs), ("matchReturnArgs", s.matchReturnArgs)] {
                var expanded = filters
                for (j, f) in filters.enumerated() where f.values.contains(where: { $0.hasPrefix("list:") }) {
                    var values: [String] = []
                    for v in f.values {
                        guard v.hasPrefix("list:") else {
                            values.append(v)
                            continue
                        }
                        switch numbers(of: String(v.dropFirst(5)), lists: lists) {
                        case .success(let ns): values += ns.map(String.init)
                        case .failure(let why): return .failure(.unsupported("\(path).selectors[\(i)].\(key)[\(j)]: \(why)"))
                        }
                    }
                    expanded[j].values = values
                }
                if key == "matchArgs" { out[i].matchArgs = expanded } else { out[i].matchReturnArgs = expanded }
            }
        }
        return .success(out)
    }

    /// `hook` with its selectors' `list:NAME` values expanded (unchanged when it has none).
    static func expanded<H>(_ hook: H, _ common: WritableKeyPath<H, HookCommon>, lists: [ListSpec], path: String) -> Result<H, EngineError> {
        guard
            hook[keyPath: common].selectors.contains(where: { s in (s.matchArgs + s.matchReturnArgs).contains { $0.values.contains { $0.hasPrefix("list:") } } }
            )
        else {
            return .success(hook)
        }
        return expand(hook[keyPath: common].selectors, lists: lists, path: path).map { selectors in
            var h = hook
            h[keyPath: common].selectors = selectors
            return h
        }
    }

    struct Refusal: Error, CustomStringConvertible { let description: String }

    static func numbers(of name: String, lists: [ListSpec]) -> Result<[Int64], Refusal> {
        guard let list = lists.first(where: { $0.name == name }) else {
            return .failure(Refusal(description: "no spec.lists entry named \(name)"))
        }
        guard list.kind == .syscalls else {
            return .failure(Refusal(description: "list \(name) is \(list.kind.rawValue); a value list:NAME needs a list of named syscalls"))
        }
        var out: [Int64] = []
        for fn in list.values {
            guard let n = SyscallNumbers.x86_64[syscallName(fn)] else {
                return .failure(Refusal(description: "list \(name): \(fn) is not an x86-64 syscall"))
            }
            out.append(n)
        }
        return .success(out)
    }

    /// "sys_dup", "__x64_sys_dup" and "dup" all name dup.
    static func syscallName(_ fn: String) -> String {
        for prefix in ["__x64_sys_", "__ia32_sys_", "__se_sys_", "__do_sys_", "sys_"] where fn.hasPrefix(prefix) {
            return String(fn.dropFirst(prefix.count))
        }
        return fn
    }
}
