import Foundation
import Logging
import PolicyEngine
import PolicyModel
import PolicyYAML

/// Where the agent's policies come from, and which source owns each: the policy files it was
/// told about (`--policy FILE`, `--policy-dir DIR`), and the API (AddTracingPolicy, kept one
/// file per request in `apiDirectory` so they load again at the next start).
///
/// Files are kept in step with the kernel: at start, and on each `refresh()` (SIGHUP) a
/// changed file is reloaded, a removed file's policies are unloaded. Each policy loads
/// atomically; one that fails leaves the others (and its own running predecessor) in place.
/// One source never replaces a policy the other owns: the attempt is refused with the owner.
final class PolicySources {
    let files: [String]
    let directory: String?
    let apiDirectory: String?
    let manager: PolicyManager
    let logger: Logger
    /// Per file: its contents when last applied, and the policy names it defined.
    private var applied: [String: (bytes: Data, names: [String])] = [:]
    /// Per API state file: the policy names it loaded.
    private var addedByAPI: [String: [String]] = [:]
    /// Per fleet policy (its key's name): the policy names it loaded.
    private(set) var addedByFleet: [String: [String]] = [:]

    init(files: [String], directory: String?, apiDirectory: String? = nil, manager: PolicyManager, logger: Logger) {
        self.files = files
        self.directory = directory
        self.apiDirectory = apiDirectory
        self.manager = manager
        self.logger = logger
    }

    /// Who owns a loaded policy: its file, "api" or "fleet".
    func owner(of name: String) -> String? {
        if addedByAPI.values.contains(where: { $0.contains(name) }) { return "api" }
        if addedByFleet.values.contains(where: { $0.contains(name) }) { return "fleet" }
        return applied.first { $0.value.names.contains(name) }?.key
    }

    /// Loads the policies of one YAML text (AddTracingPolicy): all of them, or none stays.
    /// Kept in the API directory so the next start loads them again.
    func addFromAPI(yaml: String, persist: Bool = true, stateFile: String? = nil) throws(PolicyRequestRefusal) -> [String] {
        let policies = try parseRequest(yaml, label: stateFile ?? "api")
        for p in policies {
            if let owner = owner(of: p.name) {
                let how =
                    owner == "api"
                    ? "delete it first (vigil tracingpolicy delete \(p.name))"
                    : owner == "fleet" ? "the fleet runs it; change it there (vigil fleet policy)" : "it comes from \(owner); change that file instead"
                throw PolicyRequestRefusal(kind: owner == "api" ? .exists : .ownedElsewhere, description: "policy \(p.name) is already loaded: \(how)")
            }
        }
        let names = try loadAllOrNothing(policies, keeping: [])
        var file = stateFile
        if persist, let dir = apiDirectory {
            let path = "\(dir)/\(Self.fileName(for: names[0]))"
            do {
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                guard FileManager.default.createFile(atPath: path, contents: Data(yaml.utf8), attributes: [.posixPermissions: 0o600]) else {
                    throw PolicyRequestRefusal(kind: .failed, description: "cannot write \(path)")
                }
            } catch {
                for n in names { manager.unload(name: n) }
                throw PolicyRequestRefusal(kind: .failed, description: "the policy loaded but cannot be kept in \(dir) (\(error)); it was unloaded")
            }
            file = path
        }
        addedByAPI[file ?? "api:\(names[0])"] = names
        logger.info("policy added through the API", metadata: ["policies": "\(names.joined(separator: ","))", "kept": "\(file ?? "no")"])
        return names
    }

    /// Unloads a policy the API added (with the others of its request) and forgets its file.
    func deleteFromAPI(name: String) throws(PolicyRequestRefusal) {
        guard let (file, names) = addedByAPI.first(where: { $0.value.contains(name) }) else {
            if let owner = owner(of: name) {
                throw PolicyRequestRefusal(
                    kind: .ownedElsewhere, description: "policy \(name) comes from \(owner): remove or change that file (and send SIGHUP)")
            }
            throw PolicyRequestRefusal(kind: .notFound, description: "no policy named \(name) is loaded")
        }
        for n in names { manager.unload(name: n) }
        addedByAPI[file] = nil
        if file.hasPrefix("/") { try? FileManager.default.removeItem(atPath: file) }
        logger.info("policy deleted through the API", metadata: ["policies": "\(names.joined(separator: ","))"])
    }

    /// At start: the policies the API added before, from their files. A file that no longer
    /// loads is reported and left in place (nothing of it is loaded).
    func loadAPIState() -> [String] {
        guard let dir = apiDirectory else { return [] }
        var errors: [String] = []
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".yaml") }.sorted()
        for n in names {
            let path = "\(dir)/\(n)"
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                errors.append("\(path): cannot be read")
                continue
            }
            do { _ = try addFromAPI(yaml: text, persist: false, stateFile: path) } catch { errors.append("\(path): \(error.description)") }
        }
        return errors
    }

    /// A request's policy text (API or fleet): its policies, or the positioned errors.
    private func parseRequest(_ yaml: String, label: String) throws(PolicyRequestRefusal) -> [TracingPolicy] {
        let result = PolicyLoader.parse(Array(yaml.utf8), file: label)
        guard result.isValid else {
            throw PolicyRequestRefusal(kind: .invalid, description: result.diagnostics.map(\.description).joined(separator: "\n"))
        }
        guard !result.policies.isEmpty else { throw PolicyRequestRefusal(kind: .invalid, description: "\(label): no TracingPolicy in the text") }
        return result.policies
    }

    /// Loads every policy (the first form of each group this kernel hosts) or none: on a
    /// failure the ones this call loaded are unloaded again, except `keeping` (names that ran
    /// before the call: a failed replacement leaves the running one in place).
    private func loadAllOrNothing(_ policies: [TracingPolicy], keeping: [String]) throws(PolicyRequestRefusal) -> [String] {
        var names: [String] = []
        for group in PolicyForms.groups(policies) {
            var failures: [String] = []
            for policy in group {
                do {
                    try manager.load(policy)
                    names.append(policy.name)
                    break
                } catch {
                    failures.append(error.description)
                }
            }
            if failures.count == group.count {
                for n in names where !keeping.contains(n) { manager.unload(name: n) }
                throw PolicyRequestRefusal(kind: .failed, description: failures.joined(separator: "\n"))
            }
        }
        return names
    }

    /// A fleet policy for this node (new, or a new generation): all its policies load, in
    /// `mode` when given, replacing the previous generation's; or the error says why and the
    /// previous generation keeps running. Policies of another source are never replaced.
    func applyFromFleet(entry: String, yaml: String, mode: PolicyMode?) throws(PolicyRequestRefusal) -> [String] {
        var policies = try parseRequest(yaml, label: "fleet:\(entry)")
        let previous = addedByFleet[entry] ?? []
        for i in policies.indices {
            if let owner = owner(of: policies[i].name), !previous.contains(policies[i].name) {
                throw PolicyRequestRefusal(
                    kind: .ownedElsewhere, description: "policy \(policies[i].name) is already loaded from \(owner) on this node: it stays as it is")
            }
            if let mode {
                policies[i].spec.options.removeAll { $0.name == "policy-mode" }
                policies[i].spec.options.append(OptionSpec(name: "policy-mode", value: mode.rawValue))
            }
        }
        let names = try loadAllOrNothing(policies, keeping: previous)
        for old in previous where !names.contains(old) { manager.unload(name: old) }
        addedByFleet[entry] = names
        logger.info("fleet policy loaded", metadata: ["entry": "\(entry)", "policies": "\(names.joined(separator: ","))"])
        return names
    }

    /// A fleet policy deleted, or no longer for this node: its policies go.
    func removeFromFleet(entry: String) {
        guard let names = addedByFleet.removeValue(forKey: entry) else { return }
        for n in names { manager.unload(name: n) }
        logger.info("fleet policy unloaded", metadata: ["entry": "\(entry)", "policies": "\(names.joined(separator: ","))"])
    }

    static func fileName(for policy: String) -> String {
        String(policy.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" }) + ".yaml"
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
                if let p = group.first(where: { owner(of: $0.name) == "api" }) {
                    errors.append("\(file): policy \(p.name) was added through the API: delete it there first (vigil tracingpolicy delete \(p.name))")
                    continue
                }
                if let p = group.first(where: { owner(of: $0.name) == "fleet" }) {
                    errors.append("\(file): policy \(p.name) is run by the fleet: delete it there first (vigil fleet policy delete)")
                    continue
                }
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

extension PolicySources {
    /// ConfigureTracingPolicy: enable or disable a loaded policy, or switch its mode (a
    /// reload: the old programs run until the new ones do). Run-time state: a restart, or a
    /// change of the policy's file, loads it as its source says.
    func configure(name: String, enable: Bool?, mode: PolicyMode?) throws(PolicyRequestRefusal) {
        guard manager.loaded[name] != nil || manager.disabled[name] != nil else {
            throw PolicyRequestRefusal(kind: .notFound, description: "no policy named \(name) is loaded")
        }
        do {
            if let mode, try !manager.setMode(name: name, mode) {
                throw PolicyRequestRefusal(kind: .notFound, description: "no policy named \(name) is loaded")
            }
            if let enable {
                if enable { try manager.enable(name: name) } else { manager.disable(name: name) }
            }
        } catch let e as PolicyRequestRefusal {
            throw e
        } catch {
            throw PolicyRequestRefusal(kind: .failed, description: "policy \(name) not changed (it keeps running as before): \(error)")
        }
        logger.info(
            "policy configured through the API",
            metadata: ["policy": "\(name)", "enabled": "\(enable.map { "\($0)" } ?? "unchanged")", "mode": "\(mode?.rawValue ?? "unchanged")"])
    }
}

/// A policy request (from the API) refused, with why: said to the caller as it is.
public struct PolicyRequestRefusal: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case invalid, exists, notFound, ownedElsewhere, failed }
    public let kind: Kind
    public let description: String
}
