import PolicyModel

/// A policy runs exactly as wide as it says, or is refused with the reason: the parts of a
/// TracingPolicy that would narrow or change what it does but that Vigil cannot apply on
/// this node. Nothing here is ever dropped silently.
enum PolicyScope {
    /// Why `policy` cannot run as written, by field (the compiler refuses it with these).
    static func refusals(_ policy: TracingPolicy) -> [EngineError] {
        var out: [EngineError] = []
        let spec = policy.spec
        // Kubernetes scopes: this node has no Kubernetes metadata to tell pods and containers
        // apart (no CRI, no pod labels), so a scoped policy would run for every process.
        if policy.kind == .tracingPolicyNamespaced {
            out.append(
                .unsupported(
                    "kind: TracingPolicyNamespaced (namespace \(policy.namespace ?? "default")) applies to the pods of one Kubernetes namespace, which Vigil cannot tell apart on this node; loaded here it would run for every process. Write it as a TracingPolicy and narrow it with matchNamespaces, matchBinaries or matchPIDs"
                ))
        }
        if spec.podSelector != nil {
            out.append(
                .unsupported(
                    "spec.podSelector: selects Kubernetes pods by label, which Vigil cannot tell apart on this node (even {} means every pod and no host process); loaded here the policy would run for every process. Remove it and narrow the policy with matchNamespaces (e.g. Pid NotIn host_ns for containers) or matchBinaries"
                ))
        }
        if spec.containerSelector != nil {
            out.append(
                .unsupported(
                    "spec.containerSelector: selects containers by name, which Vigil cannot tell apart on this node; loaded here the policy would run for every process. Remove it and narrow the policy with matchNamespaces or matchBinaries"
                ))
        }
        if let host = spec.hostSelector, !host.isEmpty {
            out.append(.unsupported("spec.hostSelector: only {} (every node) is applied by Vigil; a label selector over nodes belongs in fleet mode"))
        }
        for (path, common) in hookCommons(spec) {
            for (i, a) in common.args.enumerated() {
                let at = "\(path).args[\(i)]"
                if a.resolve != nil {
                    out.append(
                        .unsupported(
                            "\(at).resolve: following a BTF path from an argument is not done by Vigil; the argument would be read as its declared type instead"
                        ))
                }
                if a.returnCopy { out.append(.unsupported("\(at).returnCopy: reading a buffer again at the function's return is not done by Vigil")) }
                if a.btfType != nil || a.btfTypeModule != nil { out.append(.unsupported("\(at).btfType: arguments typed by BTF name are not read by Vigil")) }
                if a.source != nil { out.append(.unsupported("\(at).source: data arguments from the current task are not read by Vigil")) }
            }
        }
        for (i, u) in spec.uprobes.enumerated() where u.resolvePathInContainer {
            out.append(
                .unsupported(
                    "spec.uprobes[\(i)].resolvePathInContainer: Vigil probes the path as the node sees it; a container's own copy of the binary would not be probed"
                ))
        }
        return out
    }

    /// What Vigil accepts but does not collect (it changes no match and no action): said when
    /// the policy loads and by `vigil policy validate`, never silently.
    static func notCollected(_ policy: TracingPolicy) -> [String] {
        var out: [String] = []
        for (path, common) in hookCommons(policy.spec) {
            for (s, sel) in common.selectors.enumerated() {
                for (a, action) in sel.matchActions.enumerated() {
                    let at = "\(path).selectors[\(s)].matchActions[\(a)]"
                    if action.kernelStackTrace { out.append("\(at).kernelStackTrace: kernel stack traces are not collected by Vigil") }
                    if action.userStackTrace { out.append("\(at).userStackTrace: user stack traces are not collected by Vigil") }
                    if action.imaHash { out.append("\(at).imaHash: IMA hashes are not collected by Vigil") }
                }
            }
        }
        return out
    }

    static func hookCommons(_ spec: PolicySpec) -> [(String, HookCommon)] { HookRegistry.commons(spec) }
}

/// `macros: [NAME]` in a selector: the named `spec.selectorsMacros` entry's filters and
/// actions joined to the selector's own (Tetragon's semantics), before it compiles.
enum SelectorMacros {
    static func expanded(_ selectors: [Selector], macros: [String: Selector], path: String) -> Result<[Selector], EngineError> {
        var out = selectors
        for (i, s) in selectors.enumerated() where !s.macros.isEmpty {
            var merged = s
            for name in s.macros {
                guard let m = macros[name] else { return .failure(.unsupported("\(path).selectors[\(i)].macros: no selectorsMacros entry named \(name)")) }
                merged.matchArgs += m.matchArgs
                merged.matchData += m.matchData
                merged.matchReturnArgs += m.matchReturnArgs
                merged.matchPIDs += m.matchPIDs
                merged.matchBinaries += m.matchBinaries
                merged.matchParentBinaries += m.matchParentBinaries
                merged.matchNamespaces += m.matchNamespaces
                merged.matchNamespaceChanges += m.matchNamespaceChanges
                merged.matchCapabilities += m.matchCapabilities
                merged.matchCapabilityChanges += m.matchCapabilityChanges
                merged.matchActions += m.matchActions
                merged.matchReturnActions += m.matchReturnActions
            }
            merged.macros = []
            out[i] = merged
        }
        return .success(out)
    }
}
