import Foundation
import NetworkPolicy

/// Reads an endpoints file (the agent's `--endpoints`):
///
///     endpoints:
///       - name: frontend
///         namespace: default        # optional
///         labels: {app: frontend}
///         netns: existing-ns        # optional: adopt a namespace that exists
///         policyAuditMode: true     # optional: drop nothing, report would-be drops (AUDIT)
public enum EndpointFileLoader {
    public static func load(path: String) -> (endpoints: [EndpointSpec], diagnostics: [PolicyDiagnostic]) {
        let bytes: [UInt8]
        switch PolicyFile.read(path) {
        case .success(let b): bytes = b
        case .failure(let d): return ([], [d])
        }
        return parse(bytes, file: path)
    }

    public static func parse(_ bytes: [UInt8], file: String) -> (endpoints: [EndpointSpec], diagnostics: [PolicyDiagnostic]) {
        let docs: [(root: YAMLNode?, start: SourceMark)]
        switch PolicyFile.documents(bytes, file: file) {
        case .success(let d): docs = d
        case .failure(let d): return ([], [d])
        }
        let d = Diagnostics(file: file)
        var out: [EndpointSpec] = []
        for (root, _) in docs {
            guard let root, let top = MappingReader(root, path: "", keys: ["endpoints"], d) else { continue }
            for item in top.items("endpoints", required: "the list of endpoints") {
                guard let m = MappingReader(item.node, path: item.path, keys: ["name", "namespace", "labels", "netns", "policyAuditMode"], d),
                    let name = m.string("name", required: "each endpoint needs a name")
                else { continue }
                var labels: [String: String] = [:]
                for (k, v) in m.pairs("labels") {
                    guard let ks = k.scalar, let vs = v.scalar else {
                        d.error(v.mark, m.sub("labels"), "expected string keys and values")
                        continue
                    }
                    labels[ks] = vs
                }
                if out.contains(where: { $0.name == name }) {
                    d.error(m.mark("name"), m.sub("name"), "endpoint \"\(name)\" is listed twice")
                }
                out.append(
                    EndpointSpec(
                        name: name, namespace: m.string("namespace") ?? "default", labels: labels, netns: m.string("netns"),
                        policyAuditMode: m.bool("policyAuditMode") ?? false))
            }
        }
        return (d.isEmpty ? out : [], d.errors)
    }
}
