import Datapath
import Foundation
import Logging
import NetworkPolicy
import PolicyYAML

/// Keeps the datapath in step with its inputs: the endpoint records (`vigil endpoint create`
/// writes them) and the network policy files (`vigil netpolicy apply` writes them). Checked
/// every few hundred milliseconds by (mtime, size), so a change reaches the kernel well
/// within a second. A file with errors is reported and its previous policies stay in force.
final class DatapathSources {
    let controller: DatapathController
    let endpoints: EndpointManager
    let policyFiles: [String]
    let policyDirectory: String?
    let logger: Logger
    private var seen: [String: [Int]] = [:]
    private var fileErrors: [String: [String]] = [:]
    private var endpointErrors: [String] = []
    private var lastEndpoints: [EndpointRecord] = []
    private var lastEndpointDirectory: [Int]? = nil

    /// Fleet mode: cluster identities and the other nodes' endpoints.
    let cluster: ClusterIdentities?
    private var remoteVersion: UInt64 = .max
    private var fleetPolicyVersion: UInt64 = .max
    private var fleetPolicyNames: Set<String> = []

    init(
        controller: DatapathController, endpoints: EndpointManager, policyFiles: [String], policyDirectory: String?, cluster: ClusterIdentities? = nil,
        logger: Logger
    ) {
        self.cluster = cluster
        self.controller = controller
        self.endpoints = endpoints
        self.policyFiles = policyFiles
        self.policyDirectory = policyDirectory
        self.logger = logger
    }

    var errors: [String] { endpointErrors + fileErrors.keys.sorted().flatMap { fileErrors[$0]! } }

    private func currentPolicyFiles() -> [String] {
        var out = policyFiles
        if let dir = policyDirectory {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
            out += names.map { "\(dir)/\($0)" }
        }
        return out
    }

    /// (mtime ns, size, inode): an atomic rewrite changes the inode even within one mtime tick.
    private func signature(_ path: String) -> [Int]? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return [st.st_mtim.tv_sec, st.st_mtim.tv_nsec, Int(st.st_size), Int(st.st_ino)]
    }

    /// Re-reads what changed and applies it; returns whether anything was applied.
    @discardableResult
    func refresh() -> Bool {
        var dirty = false
        // the records are read again only when the directory changed (records are written
        // by rename, which changes it)
        let dirSignature = signature(endpoints.stateDirectory) ?? []
        let records = dirSignature == lastEndpointDirectory ? lastEndpoints : endpoints.list()
        lastEndpointDirectory = dirSignature
        // endpoints waiting for a cluster identity are retried until the fleet has numbered them
        let waiting = cluster != nil && controller.pendingEndpoints(of: records) > 0
        if records != lastEndpoints || waiting {
            let errors = controller.setEndpoints(records)
            if errors != endpointErrors || records != lastEndpoints { for e in errors { logger.error("\(e)") } }
            endpointErrors = errors
            lastEndpoints = records
            dirty = true
        }
        if let cluster {
            let (version, remote) = cluster.remoteEndpoints()
            if version != remoteVersion {
                controller.remoteEndpoints = remote
                remoteVersion = version
                dirty = true
            }
            // the fleet's network policies: one policy "file" each, named fleet:NAME
            let (pv, fleet) = cluster.fleetPolicies()
            if pv != fleetPolicyVersion {
                for gone in fleetPolicyNames where fleet[gone] == nil { controller.removePolicies(file: "fleet:\(gone)") }
                for (name, policies) in fleet { controller.setPolicies(policies, file: "fleet:\(name)") }
                fleetPolicyNames = Set(fleet.keys)
                fleetPolicyVersion = pv
                dirty = true
            }
        }
        let files = currentPolicyFiles()
        for gone in seen.keys where !files.contains(gone) {
            controller.removePolicies(file: gone)
            seen[gone] = nil
            fileErrors[gone] = nil
            logger.info("network policy file removed: its policies no longer apply", metadata: ["file": "\(gone)"])
            dirty = true
        }
        for f in files {
            guard let sig = signature(f) else { continue }
            if let old = seen[f], old == sig { continue }
            seen[f] = sig
            let result = NetworkPolicyLoader.load(path: f)
            if result.isValid {
                controller.setPolicies(result.policies, file: f)
                fileErrors[f] = nil
                logger.info("network policy file applied", metadata: ["file": "\(f)", "policies": "\(result.policies.map(\.key).joined(separator: ","))"])
                dirty = true
            } else {
                fileErrors[f] = result.diagnostics.map(\.description)
                for e in result.diagnostics { logger.error("\(e.description) (the file's previous policies stay in force)") }
            }
        }
        if dirty {
            cluster?.setLocalEndpoints(controller.endpointModels)
            do { try controller.apply() } catch {
                logger.error("datapath maps could not be written", metadata: ["error": "\(error)"])
                fileErrors["<kernel>"] = ["\(error)"]
            }
        }
        return dirty
    }
}
