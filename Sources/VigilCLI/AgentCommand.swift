import AgentRuntime
import ArgumentParser
import BPFKit
import Export
import Foundation
import KernelFeatures
import Logging
import PolicyYAML
import Sensors

#if canImport(Glibc)
import Glibc
#endif

/// `vigil agent`: observe every exec and exit on the node and export JSON lines.
struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run the node agent: process events as Tetragon-shaped JSON lines until SIGINT/SIGTERM.",
        discussion: "Needs root. Settings come from --config (YAML, keys named like the flags) and then the flags."
    )

    @Option(help: "YAML file with settings named like the flags (export-file: ..., node-name: ...).")
    var config: String?
    @Option(help: "Node name in events (default: the host name).")
    var nodeName: String?
    @Flag(help: "Write events to standard output (the default when no --export-file is given).")
    var exportStdout = false
    @Option(help: "Write events to this file, rotating by size.")
    var exportFile: String?
    @Option(help: "Rotate the export file at this size (e.g. 10M, 64K).")
    var exportFileMaxSize: String?
    @Option(help: "Rotated files to keep.")
    var exportFileMaxBackups: Int?
    @Flag(help: "gzip rotated files.")
    var exportFileCompress = false
    @Option(help: "Export only events matching one of these filters (JSON objects, one per line; Tetragon's fields).")
    var exportAllowlist: String?
    @Option(help: "Drop events matching any of these filters (JSON objects, one per line).")
    var exportDenylist: String?
    @Option(help: "Field filters: {\"fields\":\"process.cwd,parent\",\"action\":\"EXCLUDE\"} per line.")
    var fieldFilters: String?
    @Flag(help: "Add the ancestors list (beyond the parent) to exec events.")
    var enableAncestors = false
    @Flag(help: "Add capabilities and credentials to processes (cap, process_credentials).")
    var enableProcessCred = false
    @Flag(help: "Add namespaces to processes (ns).")
    var enableProcessNs = false
    @Option(help: "Ring buffer size (e.g. 8M).")
    var rbSize: String?
    @Option(help: "Process cache capacity (entries).")
    var processCacheSize: Int?
    @Option(help: "Directory of TracingPolicy files (*.yaml) to load at start and on SIGHUP.")
    var policyDir: String?
    @Option(help: "A TracingPolicy file to load (repeatable); re-read on SIGHUP.")
    var policy: [String] = []
    @Option(help: "Where to write loaded policies and hook counters for `vigil policy list` (default /run/vigil/policies.json).")
    var statusFile: String?
    @Flag(help: "Do not load the network sensor (process_connect / process_accept / process_close / process_dns / process_scan events).")
    var disableNetworkSensor = false
    @Option(help: "Scan detection: distinct TCP destinations one process may try within --scan-window before process_scan (default 20; 0: off).")
    var scanThreshold: UInt32?
    @Option(help: "Scan detection window in seconds (default 5).")
    var scanWindow: UInt32?
    @Option(help: "How accepts are seen: auto (fexit where the kernel has trampolines, else handshake), fexit, handshake (named by the listening socket's owner; no syscall cost), syscalls (the accepting process; taxes every syscall).")
    var acceptHook: String?
    @Flag(help: .hidden)
    var forceTracepoints = false
    @Flag(help: "Do not load the identity-aware network datapath (endpoints, network policy, flow events).")
    var disableDatapath = false
    @Option(help: "Endpoints file (YAML): endpoints created or adopted at start when missing.")
    var endpoints: String?
    @Option(help: "Directory of network policy files (CiliumNetworkPolicy, NetworkPolicy), watched for changes.")
    var netpolicyDir: String?
    @Option(help: "A network policy file (repeatable), watched for changes.")
    var netpolicy: [String] = []
    @Option(help: "Endpoint records directory (default /run/vigil/endpoints; `vigil endpoint` uses the same).")
    var endpointStateDir: String?
    @Option(help: "Where to write endpoints, identities and network policies for `vigil netpolicy list` (default /run/vigil/datapath.json).")
    var datapathStatusFile: String?
    @Option(help: "bpffs directory where the datapath stays in force while no agent runs (default /sys/fs/bpf/vigil/datapath).")
    var datapathPinDir: String?

    func fail(_ message: String, code: Int32) -> ExitCode {
        FileHandle.standardError.write(Data("vigil agent: \(message)\n".utf8))
        return ExitCode(code)
    }

    func run() throws {
        var cfg = AgentConfiguration(nodeName: ProcessInfo.processInfo.hostName)
        if let config {
            do { try AgentConfigFile.apply(path: config, to: &cfg) } catch { throw fail("\(error)", code: 2) }
        }
        if let nodeName { cfg.nodeName = nodeName }
        if exportStdout { cfg.exportStdout = true }
        if let exportFile { cfg.exportFile = exportFile }
        if let s = exportFileMaxSize {
            guard let n = AgentConfigFile.byteSize(s) else { throw fail("--export-file-max-size: expected a size like 10M, 64K or 1048576, got \"\(s)\"", code: 2) }
            cfg.exportFileMaxBytes = n
        }
        if let n = exportFileMaxBackups { cfg.exportFileBackups = n }
        if exportFileCompress { cfg.exportFileCompress = true }
        do {
            if let a = exportAllowlist { cfg.filters.allow = try ExportFilter.list(a) }
            if let d = exportDenylist { cfg.filters.deny = try ExportFilter.list(d) }
            if let f = fieldFilters { cfg.fieldFilters = try AgentConfigFile.fieldFilters(f) }
        } catch {
            throw fail("\(error)", code: 2)
        }
        if enableAncestors { cfg.enableAncestors = true }
        if enableProcessCred { cfg.enableProcessCred = true }
        if enableProcessNs { cfg.enableProcessNS = true }
        if let s = rbSize {
            guard let n = AgentConfigFile.byteSize(s) else { throw fail("--rb-size: expected a size like 8M, got \"\(s)\"", code: 2) }
            cfg.ringBufferBytes = n
        }
        if let n = processCacheSize { cfg.processCacheSize = n }
        if let d = policyDir { cfg.policyDirectory = d }
        cfg.policyFiles += policy
        if let statusFile { cfg.statusFile = statusFile }
        if forceTracepoints { cfg.forceTracepoints = true }
        if disableNetworkSensor { cfg.networkSensor = false }
        if let scanThreshold { cfg.scanThreshold = scanThreshold }
        if let scanWindow {
            guard scanWindow > 0 else { throw fail("--scan-window: expected a number of seconds above 0, got 0", code: 2) }
            cfg.scanWindowSeconds = scanWindow
        }
        if let acceptHook {
            guard let h = AcceptHook(rawValue: acceptHook) else {
                throw fail("--accept-hook: expected one of \(AcceptHook.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(acceptHook)\"", code: 2)
            }
            cfg.acceptHook = h
        }
        if disableDatapath { cfg.datapath = false }
        if let endpoints { cfg.endpointsFile = endpoints }
        if let netpolicyDir { cfg.netPolicyDirectory = netpolicyDir }
        cfg.netPolicyFiles += netpolicy
        if let endpointStateDir { cfg.endpointStateDirectory = endpointStateDir }
        if let datapathStatusFile { cfg.datapathStatusFile = datapathStatusFile }
        if let datapathPinDir { cfg.datapathPinDirectory = datapathPinDir }
        if !cfg.exportStdout && cfg.exportFile == nil { cfg.exportStdout = true }

        guard geteuid() == 0 else { throw fail("needs root (it loads BPF programs); run it with sudo", code: 1) }
        for needed in [KernelFeature.ringBuffer, .tracepoint] where !FeatureProbe.shared.isSupported(needed) {
            throw fail("this kernel lacks \(needed) (\(needed.summary)): \(FeatureProbe.shared.status(needed)); the base sensor needs it", code: 1)
        }
        try checkPolicies(directory: cfg.policyDirectory, files: cfg.policyFiles)
        try checkNetworkPolicies(directory: cfg.netPolicyDirectory, files: cfg.netPolicyFiles, endpoints: cfg.endpointsFile)

        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "vigil.agent")
        let agent: Agent
        do { agent = try Agent(configuration: cfg, logger: logger) } catch {
            throw fail("cannot start: \(error)", code: 1)
        }
        do { try agent.run() } catch let e as AgentStartError {
            throw fail(e.message, code: 1)
        }
    }

    /// Validates every policy file up front, so a bad one is reported with its position and
    /// exit status 2 before anything is loaded.
    private func checkPolicies(directory: String?, files: [String]) throws {
        var paths = files
        if let dir = directory {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
                throw fail("--policy-dir \(dir): not a directory", code: 2)
            }
            paths += ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted().map { "\(dir)/\($0)" }
        }
        var bad = false
        for f in paths {
            let r = PolicyLoader.load(path: f)
            for d in r.diagnostics + r.warnings { FileHandle.standardError.write(Data((d.description + "\n").utf8)) }
            bad = bad || !r.isValid
        }
        if bad { throw fail("policy errors; fix them or move the file away (nothing was loaded)", code: 2) }
    }

    /// Network policy and endpoints files, checked the same way before anything loads.
    private func checkNetworkPolicies(directory: String?, files: [String], endpoints: String?) throws {
        var paths = files
        if let dir = directory {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
                throw fail("--netpolicy-dir \(dir): not a directory", code: 2)
            }
            paths += ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted().map { "\(dir)/\($0)" }
        }
        var bad = false
        for f in paths {
            let r = NetworkPolicyLoader.load(path: f)
            for d in r.diagnostics { FileHandle.standardError.write(Data((d.description + "\n").utf8)) }
            bad = bad || !r.isValid
        }
        if let endpoints {
            let r = EndpointFileLoader.load(path: endpoints)
            for d in r.diagnostics { FileHandle.standardError.write(Data((d.description + "\n").utf8)) }
            bad = bad || !r.diagnostics.isEmpty
        }
        if bad { throw fail("network policy or endpoints file errors; fix them or move the file away (nothing was loaded)", code: 2) }
    }
}
