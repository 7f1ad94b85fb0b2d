import Foundation
import Logging
import PolicyEngine
import PolicyModel
import PolicyYAML

/// The policy files the agent was told about (`--policy FILE`, `--policy-dir DIR`), kept in
/// step with the kernel: at start, and on each `refresh()` (SIGHUP) a changed file is
/// reloaded, a removed file's policies are unloaded. Each policy loads atomically; one that
/// fails leaves the others (and its own running predecessor) in place.
final class PolicySources {
    let files: [String]
    let directory: String?
    let manager: PolicyManager
    let logger: Logger
    /// Per file: its contents when last applied, and the policy names it defined.
    private var applied: [String: (bytes: Data, names: [String])] = [:]

    init(files: [String], directory: String?, manager: PolicyManager, logger: Logger) {
        self.files = files
        self.directory = directory
        self.manager = manager
        self.logger = logger
    }

    /// Every policy file, in a stable order (directory entries sorted).
    func currentFiles() -> [String] {
        var out = files
        if let directory {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
                .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
            out += names.map { "\(directory)/\($0)" }
        }
        return out
    }

    /// Applies every new or changed file; returns the errors (file problems and load failures).
    @discardableResult
    func refresh() -> [String] {
        var errors: [String] = []
        let present = currentFiles()
        for gone in applied.keys where !present.contains(gone) {
            for name in applied[gone]!.names { manager.unload(name: name) }
            applied[gone] = nil
            logger.info("policy file removed: its policies unloaded", metadata: ["file": "\(gone)"])
        }
        for file in present {
            guard let bytes = FileManager.default.contents(atPath: file) else {
                errors.append("\(file): cannot be read")
                continue
            }
            if applied[file]?.bytes == bytes { continue }
            let result = PolicyLoader.parse([UInt8](bytes), file: file)
            for w in result.warnings { logger.warning("\(w.description)") }
            guard result.isValid else {
                errors += result.diagnostics.map(\.description)
                continue  // the file's previous policies (if any) keep running
            }
            var names: [String] = []
            for group in PolicyForms.groups(result.policies) {
                // A detection's alternative forms: the first this kernel can host loads, alone.
                var failures: [String] = []
                for policy in group {
                    do {
                        try manager.load(policy)
                        names.append(policy.name)
                        var meta: Logger.Metadata = [
                            "policy": "\(policy.name)", "file": "\(file)",
                            "hooks": "\(manager.loaded[policy.name]?.hooks.count ?? 0)",
                        ]
                        if group.count > 1 {
                            meta["form"] = "\(failures.count + 1) of \(group.count) (\(PolicyForms.label)=\(policy.labels[PolicyForms.label] ?? ""))"
                        }
                        logger.info("policy loaded", metadata: meta)
                        break
                    } catch {
                        failures.append(error.description)
                        if applied[file]?.names.contains(policy.name) == true { names.append(policy.name) }  // the old one still runs
                    }
                }
                if failures.count == group.count {
                    errors += failures
                } else if !failures.isEmpty {
                    for (policy, why) in zip(group, failures) {
                        logger.info("alternative form not used on this kernel", metadata: ["policy": "\(policy.name)", "reason": "\(why)"])
                    }
                }
            }
            // Policies the file no longer defines.
            for old in applied[file]?.names ?? [] where !names.contains(old) { manager.unload(name: old) }
            applied[file] = (bytes, names)
        }
        return errors
    }
}
