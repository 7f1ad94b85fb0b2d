import Foundation
import PolicyModel

/// Turns YAML documents into `TracingPolicy` values, applying Tetragon's CRD defaults and
/// reporting every problem with its position. Decoding never touches the kernel.
struct PolicyDecoder {
    let d: Diagnostics

    static let apiVersion = "cilium.io/v1alpha1"

    func policy(_ root: YAMLNode, start: SourceMark) -> TracingPolicy? {
        d.positions = [:]
        guard let top = MappingReader(root, path: "", keys: ["apiVersion", "kind", "metadata", "spec"], d) else { return nil }
        let errorsBefore = d.errors.count
        if let api = top.string("apiVersion", required: "TracingPolicy documents start with apiVersion: \(Self.apiVersion)"), api != Self.apiVersion {
            d.error(top.mark("apiVersion"), "apiVersion", "unsupported apiVersion \"\(api)\"; use \(Self.apiVersion)")
        }
        let kind = top.enumeration("kind", TracingPolicy.Kind.self, required: "TracingPolicy or TracingPolicyNamespaced")
        var name = ""
        var namespace: String?
        var labels: [String: String] = [:]
        var annotations: [String: String] = [:]
        if let metaNode = top.value("metadata") {
            if let meta = MappingReader(
                metaNode, path: "metadata",
                keys: ["name", "namespace", "labels", "annotations", "generateName", "uid", "resourceVersion", "generation", "creationTimestamp"], d)
            {
                if let n = meta.string("name", required: "every policy needs a name") {
                    if Self.isDNSSubdomain(n) {
                        name = n
                    } else {
                        d.error(
                            meta.mark("name"), "metadata.name",
                            "\"\(n)\" is not a valid name: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters"
                        )
                    }
                }
                namespace = meta.string("namespace")
                labels = stringMap(meta, "labels")
                annotations = stringMap(meta, "annotations")
            }
        } else {
            top.missing("metadata", "every policy needs metadata.name")
        }
        if kind == .tracingPolicyNamespaced && namespace == nil {
            // Tetragon takes the namespace from the API server; a file needs it written.
            d.error(top.keyMark("metadata"), "metadata.namespace", "TracingPolicyNamespaced needs metadata.namespace")
        }
        var spec = PolicySpec()
        if let specNode = top.value("spec") {
            spec = SpecDecoder(d: d).spec(specNode, kind: kind)
        } else {
            top.missing("spec", "a policy needs a spec with at least one hook")
        }
        guard d.errors.count == errorsBefore, let kind else { return nil }
        var policy = TracingPolicy(kind: kind, name: name, spec: spec, location: SourceLocation(file: d.file, line: root.mark.line, column: root.mark.column))
        policy.namespace = namespace
        policy.labels = labels
        policy.annotations = annotations
        for (path, mark) in d.positions { policy.positions.byPath[path] = SourceLocation(file: d.file, line: mark.line, column: mark.column) }
        return policy
    }

    private func stringMap(_ m: MappingReader, _ key: String) -> [String: String] {
        var out: [String: String] = [:]
        for (k, v) in m.pairs(key) {
            guard let ks = k.scalar, let vs = v.scalar else {
                d.error(v.mark, m.sub(key), "expected string keys and values")
                continue
            }
            out[ks] = vs
        }
        return out
    }

    /// RFC 1123 subdomain, as Kubernetes requires for object names.
    static func isDNSSubdomain(_ s: String) -> Bool {
        guard !s.isEmpty, s.utf8.count <= 253 else { return false }
        let ok = s.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 }
        let alnum: (UInt8) -> Bool = { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) }
        return ok && alnum(s.utf8.first!) && alnum(s.utf8.last!)
    }
}
