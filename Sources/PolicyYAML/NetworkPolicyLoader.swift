import Foundation
import NetworkPolicy

/// The outcome of reading one network policy file: its policies, or every problem found
/// (any error: no policies, so nothing of the file is half-applied).
public struct NetworkPolicyFileResult: Sendable {
    public let file: String
    public let policies: [NetworkPolicy]
    public let diagnostics: [PolicyDiagnostic]
    public var isValid: Bool { diagnostics.isEmpty }
}

/// Reads CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy and Kubernetes NetworkPolicy
/// files with the same YAML reader and positioned errors as TracingPolicy files.
public enum NetworkPolicyLoader {
    public static func load(path: String) -> NetworkPolicyFileResult {
        switch PolicyFile.read(path) {
        case .success(let bytes): return parse(bytes, file: path)
        case .failure(let d): return NetworkPolicyFileResult(file: path, policies: [], diagnostics: [d])
        }
    }

    public static func parse(_ bytes: [UInt8], file: String) -> NetworkPolicyFileResult {
        let docs: [(root: YAMLNode?, start: SourceMark)]
        switch PolicyFile.documents(bytes, file: file) {
        case .success(let d): docs = d
        case .failure(let d): return NetworkPolicyFileResult(file: file, policies: [], diagnostics: [d])
        }
        let d = Diagnostics(file: file)
        var policies: [NetworkPolicy] = []
        for (root, _) in docs {
            guard let root else { continue }
            policies += NetworkPolicyDecoder(d: d).policies(root)
        }
        if docs.allSatisfy({ $0.root == nil }) {
            d.error(
                SourceMark(line: 1, column: 1), "", "contains no YAML document; a network policy starts with apiVersion: cilium.io/v2 or networking.k8s.io/v1")
        }
        var seen: [String: String] = [:]
        for p in policies {
            if let first = seen[p.key] {
                let mark = p.origin.split(separator: ":").suffix(2).compactMap { Int($0) }
                d.error(
                    SourceMark(line: mark.first ?? 1, column: mark.last ?? 1), "metadata.name",
                    "policy \"\(p.key)\" is defined twice in this file (first at \(first))")
            }
            seen[p.key] = p.origin
        }
        return NetworkPolicyFileResult(file: file, policies: d.isEmpty ? policies : [], diagnostics: d.errors)
    }
}
