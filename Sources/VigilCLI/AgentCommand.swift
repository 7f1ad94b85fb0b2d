import AgentAPI
import AgentMetrics
import AgentRuntime
import ArgumentParser
import BPFKit
import CMalloc
import Export
import Fleet
import Foundation
import KernelFeatures
import Logging
import PolicyYAML
import Sensors
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// `vigil agent`: observe every exec and exit on the node and export JSON lines.
struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run the node agent: process events as Tetragon-shaped JSON lines until SIGINT/SIGTERM.",
        discussion: "Needs root. Settings come from --config FILE (YAML, keys named like the flags) and then the flags:\n\n" + AgentOptions.help
    )

    /// Every setting, parsed by AgentOptions (the one table of the agent's flags and config keys).
    @Argument(parsing: .allUnrecognized, help: .hidden)
    var arguments: [String] = []

    func fail(_ message: String, code: Int32) -> ExitCode {
        FileHandle.standardError.write(Data("vigil agent: \(message)\n".utf8))
        return ExitCode(code)
    }

    func run() throws {
        var cfg = AgentConfiguration(nodeName: ProcessInfo.processInfo.hostName)
        do { try AgentOptions.parse(arguments, into: &cfg) } catch { throw fail(error.description, code: 2) }
        if !cfg.exportStdout && cfg.exportFile == nil { cfg.exportStdout = true }

        guard geteuid() == 0 else { throw fail("needs root (it loads BPF programs); run it with sudo", code: 1) }
        for needed in [KernelFeature.ringBuffer, .tracepoint] where !FeatureProbe.shared.isSupported(needed) {
            throw fail("this kernel lacks \(needed) (\(needed.summary)): \(FeatureProbe.shared.status(needed)); the base sensor needs it", code: 1)
        }
        try checkPolicies(directory: cfg.policyDirectory, files: cfg.policyFiles)
        let fleetSettings = try fleetSettings(cfg)
        let tcpAPI: APITCPServer.Settings?
        do { tcpAPI = try APITCPServer.Settings.from(cfg) } catch { throw fail(error.description, code: 2) }
        try checkNetworkPolicies(directory: cfg.netPolicyDirectory, files: cfg.netPolicyFiles, endpoints: cfg.endpointsFile)

        if cfg.exitWithParent {
            // the kernel sends SIGTERM when the parent exits; a parent already gone is seen here
            let parent = getppid()
            _ = vigil_set_parent_death_signal(SIGTERM)
            if getppid() != parent || parent == 1 { throw fail("--exit-with-parent: the parent has already exited", code: 1) }
        }
        // one agent per node: a second one stops here, before it touches the kernel
        let lock: AgentLock
        do { lock = try AgentLock.acquire(path: cfg.lockFile, takeOver: cfg.takeOver) } catch { throw fail(error.description, code: 1) }
        defer { lock.release() }
        // the API socket next (a stale one from a dead agent is replaced)
        var apiSocket: (fd: Int32, path: String)? = nil
        if let address = cfg.serverAddress {
            do { apiSocket = try APIServer.bind(address: address) } catch { throw fail("\(error)", code: 1) }
        }
        AgentLogging.bootstrap(level: cfg.logLevel, format: cfg.logFormat)
        let logger = Logger(label: "vigil.agent")
        let agent: Agent
        do { agent = try Agent(configuration: cfg, logger: logger) } catch {
            if let s = apiSocket { unlink(s.path) }
            throw fail("cannot start: \(error)", code: 1)
        }
        // The parts around the drain start here, each reporting its own start-up error with
        // its exit status; then all run as one group (AgentServices.swift) until the drain
        // ends (SIGINT, SIGTERM) or a part fails, and stop in the reverse order.
        var parts: [StoppingService] = []
        func abandon() { for p in parts.reversed() { p.stop() } }
        if let socket = apiSocket {
            let api = APIServer(agent: agent.handle, socket: socket, logger: logger)
            api.start()
            parts.append(StoppingService("api", stop: api.stop))
        }
        if let settings = tcpAPI {
            let server = APITCPServer(agent: agent.handle, settings: settings, logger: logger)
            do { _ = try runBlocking { try await server.start() } } catch {
                abandon()
                throw fail("\(error)", code: 1)
            }
            parts.append(StoppingService("api-tcp", stop: server.stop))
        }
        if let address = cfg.metricsAddress {
            let metrics: MetricsServer
            do { metrics = try MetricsServer(address: address, agent: agent.handle, logger: logger) } catch {
                abandon()
                throw fail("\(error)", code: 1)
            }
            parts.append(StoppingService("metrics", stop: metrics.stop))
        }
        if let settings = fleetSettings {
            let fleet = FleetAgent(settings: settings, agent: agent.handle, logger: logger)
            fleet.start()
            parts.append(StoppingService("fleet", stop: fleet.stop))
        }
        let drain = AgentDrainService(running: agent)
        let group = ServiceGroup.agent(parts: parts, drain: drain, logger: logger)
        do { try runBlocking { try await group.run() } } catch let e as AgentStartError {
            throw fail(e.message, code: 1)
        }
    }

    /// Fleet mode's settings, checked before anything loads (a bad one exits 2).
    private func fleetSettings(_ cfg: AgentConfiguration) throws -> FleetAgent.Settings? {
        guard cfg.kvstore != nil else { return nil }
        var etcd = EtcdSettings()
        etcd.endpoints = cfg.kvstoreEndpoints
        etcd.caFile = cfg.kvstoreCA
        etcd.certFile = cfg.kvstoreCert
        etcd.keyFile = cfg.kvstoreKey
        etcd.user = cfg.kvstoreUser
        etcd.passwordFile = cfg.kvstorePasswordFile
        etcd.prefix = cfg.kvstorePrefix
        do { try etcd.check() } catch { throw fail(error.description, code: 2) }
        guard FleetKeys.isValidName(cfg.nodeName) else {
            throw fail("--node-name \(cfg.nodeName): fleet mode names keys after the node: use letters, digits, '-', '_' or '.'", code: 2)
        }
        return FleetAgent.Settings(
            etcd: etcd, node: cfg.nodeName, labels: cfg.nodeLabels, leaseTTL: cfg.kvstoreLeaseTTL, stateDirectory: cfg.fleetStateDirectory)
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
            paths += ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted().map {
                "\(dir)/\($0)"
            }
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
            paths += ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted().map {
                "\(dir)/\($0)"
            }
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
