import Foundation
import PolicyModel

/// The outcome of reading one policy file: the policies, or every problem found.
/// A file with any error yields no policies (nothing is half-loaded).
public struct PolicyFileResult: Sendable {
    public let file: String
    public let policies: [TracingPolicy]
    /// Errors; any error means no policies.
    public let diagnostics: [PolicyDiagnostic]
    /// Things Tetragon also accepts but that are probably mistakes.
    public var warnings: [PolicyDiagnostic] = []
    public var isValid: Bool { diagnostics.isEmpty }
}

/// Reads TracingPolicy files. Pure: parsing and validation never touch the kernel, so
/// `vigil policy validate` gives the same answer on every machine.
public enum PolicyLoader {
    /// Reads and validates the file at `path`.
    public static func load(path: String) -> PolicyFileResult {
        switch PolicyFile.read(path) {
        case .success(let bytes): return parse(bytes, file: path)
        case .failure(let d): return PolicyFileResult(file: path, policies: [], diagnostics: [d])
        }
    }

    /// Parses and validates policy YAML held in memory; `file` names it in diagnostics.
    public static func parse(_ bytes: [UInt8], file: String) -> PolicyFileResult {
        let docs: [(root: YAMLNode?, start: SourceMark)]
        switch PolicyFile.documents(bytes, file: file) {
        case .success(let d): docs = d
        case .failure(let d): return PolicyFileResult(file: file, policies: [], diagnostics: [d])
        }
        let diagnostics = Diagnostics(file: file)
        let decoder = PolicyDecoder(d: diagnostics)
        var policies: [TracingPolicy] = []
        for (root, _) in docs {
            guard let root else { continue }
            if let p = decoder.policy(root, start: root.mark) { policies.append(p) }
        }
        if docs.allSatisfy({ $0.root == nil }) {
            diagnostics.error(SourceMark(line: 1, column: 1), "", "contains no YAML document; a policy starts with apiVersion: cilium.io/v1alpha1")
        }
        var names: [String: SourceLocation] = [:]
        for p in policies {
            if let first = names[p.name] {
                diagnostics.error(
                    SourceMark(line: p.location.line, column: p.location.column), "metadata.name",
                    "policy \"\(p.name)\" is defined twice in this file (first at line \(first.line))")
            }
            names[p.name] = p.location
        }
        var result = PolicyFileResult(file: file, policies: diagnostics.isEmpty ? policies : [], diagnostics: diagnostics.errors)
        result.warnings = diagnostics.warnings
        return result
    }
}

/// Reading a policy file (any kind) into YAML documents, with the checks every policy file
/// gets: exists, is a file, is small, is text, is YAML.
enum PolicyFile {
    static func read(_ path: String) -> Result<[UInt8], PolicyDiagnostic> {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            return .failure(failure(path, "file not found; check the path"))
        }
        if isDirectory.boolValue { return .failure(failure(path, "is a directory; name the policy files (e.g. \(path)/*.yaml)")) }
        guard let handle = FileHandle(forReadingAtPath: path) else { return .failure(failure(path, "cannot be read (permission denied?)")) }
        defer { try? handle.close() }
        // Read one byte past the limit: enough to know the file is too large without reading it all.
        let data = (try? handle.read(upToCount: PolicyLimits.fileBytes + 1)) ?? Data()
        if data.count > PolicyLimits.fileBytes {
            return .failure(
                failure(path, "is larger than \(PolicyLimits.fileBytes / (1024 * 1024)) MiB; a policy file is never this big: is it the right file?"))
        }
        return .success([UInt8](data))
    }

    static func documents(_ bytes: [UInt8], file: String) -> Result<[(root: YAMLNode?, start: SourceMark)], PolicyDiagnostic> {
        if bytes.count > PolicyLimits.fileBytes {
            return .failure(failure(file, "is larger than \(PolicyLimits.fileBytes / (1024 * 1024)) MiB"))
        }
        if let nul = bytes.firstIndex(of: 0) {
            let line = bytes[..<nul].reduce(1) { $1 == 10 ? $0 + 1 : $0 }
            return .failure(
                PolicyDiagnostic(file: file, mark: SourceMark(line: line, column: 1), path: "", message: "contains a NUL byte: this is a binary file, not YAML")
            )
        }
        do {
            return .success(try YAMLReader().documents(bytes))
        } catch {
            return .failure(PolicyDiagnostic(file: file, mark: error.mark, path: "", message: error.message))
        }
    }

    static func failure(_ file: String, _ message: String) -> PolicyDiagnostic {
        PolicyDiagnostic(file: file, mark: SourceMark(line: 1, column: 1), path: "", message: message)
    }
}
