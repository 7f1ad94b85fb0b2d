/// Short human renderings of selectors and actions, for `vigil policy explain` and logs.
extension ArgFilter: CustomStringConvertible {
    public var description: String {
        let target = args.isEmpty ? "arg\(index)" : "args[\(args.map(String.init).joined(separator: ","))]"
        return "\(target) \(op.rawValue)" + (values.isEmpty ? "" : " [\(values.joined(separator: ", "))]")
    }
}

extension BinaryFilter: CustomStringConvertible {
    public var description: String { "binary \(op.rawValue) [\(values.joined(separator: ", "))]" + (followChildren ? " +children" : "") }
}

extension Action: CustomStringConvertible {
    public var description: String {
        var parts: [String] = []
        if let e = argError { parts.append("error \(e)") }
        if let s = argSig { parts.append("signal \(s)") }
        if let r = rateLimitSeconds { parts.append("at most 1 per \(r)s per \(rateLimitScope.rawValue)") }
        if let u = argURL { parts.append(u) }
        if let f = argFQDN { parts.append(f) }
        return kind.rawValue + (parts.isEmpty ? "" : "(\(parts.joined(separator: ", ")))")
    }
}

extension Selector {
    /// Every filter of this selector, rendered; empty for a selector that matches everything.
    public var filterDescriptions: [String] {
        var out: [String] = []
        out += matchPIDs.map { "pid \($0.op.rawValue) \($0.values)" + ($0.followForks ? " +forks" : "") }
        out += matchBinaries.map(\.description)
        out += matchParentBinaries.map { "parent " + $0.description }
        out += matchNamespaces.map { "ns \($0.namespace.rawValue) \($0.op.rawValue) [\($0.values.joined(separator: ", "))]" }
        out += matchNamespaceChanges.map { "ns change \($0.op.rawValue) \($0.values.map(\.rawValue))" }
        out += matchCapabilities.map { "cap \($0.set.rawValue) \($0.op.rawValue) [\($0.values.map(\.rawValue).joined(separator: ", "))]" }
        out += matchCapabilityChanges.map { "cap change \($0.op.rawValue) [\($0.values.map(\.rawValue).joined(separator: ", "))]" }
        out += matchArgs.map(\.description)
        out += matchData.map { "data " + $0.description }
        out += matchReturnArgs.map { "return " + $0.description }
        out += macros.map { "macro \($0)" }
        return out
    }
}
