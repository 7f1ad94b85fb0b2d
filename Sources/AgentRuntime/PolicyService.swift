import BPFKit
import Foundation
import Logging
import PolicyEngine
import PolicyModel
import Sensors
import Synchronization

/// The agent's policies, on a thread of their own. Loading a policy runs the kernel's verifier
/// over every hook (seconds for the library); when that ran on the drain thread, an
/// AddTracingPolicy under 150,000 events/s lost 43% of them while it loaded. Here it waits for
/// nobody: the drain thread sees only what this service publishes (the hooks' plans in a
/// PlanTable, the statuses and loss in a PolicyPublication).
///
/// The service owns the policy manager, the policy sources, the enforcement pins and the
/// policy status file. It is made and started (the first load) by the agent's run, then handed
/// whole to its thread (OwnedThread): nothing of it is shared. Requests from the API and the
/// fleet reach it through AgentControl, SIGHUP too.
public final class PolicyService {
    let configuration: AgentConfiguration
    let logger: Logger
    let policies: PolicyManager
    let sources: PolicySources
    let readiness: Readiness
    let control: AgentControl
    /// Bumped by every policy load and unload (see `run`: memory is handed back after one).
    private let plans: PlanTable
    let publication: PolicyPublication
    /// The process sensor's links and ring, pinned with the first enforcing policy.
    let sensorPins: [(file: String, object: BPFPinnable)]
    /// Enforcing programs pinned to outlive the agent (nil: --enforce-pin-dir "").
    let enforcementPins: EnforcementPins?
    /// This thread's own descriptor of the path walk's file-system roots (sb_roots).
    let superBlockRoots: BPFMap
    private var statusWriter = StatusFileWriter()
    private var mounts = SuperBlockRoots.current()

    /// `shared`: the sensor's shared maps through descriptors of this service's own
    /// (BPFMap.duplicate), so nothing of the drain thread's objects crosses over.
    init(
        configuration: AgentConfiguration, logger: Logger, shared: SharedKernelMaps, sensorPins: [(file: String, object: BPFPinnable)],
        plans: PlanTable, readiness: Readiness, control: AgentControl, publication: PolicyPublication
    ) {
        self.configuration = configuration
        self.logger = logger
        self.sensorPins = sensorPins
        self.readiness = readiness
        self.control = control
        self.publication = publication
        superBlockRoots = shared.superBlockRoots
        policies = PolicyManager(shared: .init(shared), plans: plans)
        self.plans = plans
        sources = PolicySources(
            files: configuration.policyFiles, directory: configuration.policyDirectory,
            apiDirectory: configuration.serverAddress == nil ? nil : configuration.apiPolicyDirectory, manager: policies, logger: logger)
        enforcementPins = configuration.enforcePinDirectory.map { EnforcementPins(root: $0, logger: logger) }
    }

    /// The first load (before the agent says ready): every configured policy, or none of them
    /// stays (the errors say why). Then this agent's enforcement is pinned and the previous
    /// agent's pins go; returns how many records that agent's ring held unread.
    func start() -> (errors: [String], unreadRecords: UInt64) {
        let errors = sources.refresh() + sources.loadAPIState()
        if !errors.isEmpty {
            policies.unloadAll()
            return (errors, 0)
        }
        writeStatus()
        guard let pins = enforcementPins else { return ([], 0) }
        let (generations, records) = pins.takeOverPrevious()
        if !generations.isEmpty {
            logger.info(
                "took over the enforcement a previous agent left pinned",
                metadata: ["generations": "\(generations.joined(separator: ","))", "records.unread": "\(records)"])
        }
        return ([], records)
    }

    /// The thread's body: requests as they come, the periodic work in between, until the
    /// agent closes `control`. The policies stay loaded (and their plans published) until
    /// `finish`, so the drain can still decode what their hooks wrote last.
    func run() {
        var lastStatusNs: UInt64 = 0
        var lastLossNs: UInt64 = 0
        var lastFilesNs: UInt64 = 0
        func due(_ last: inout UInt64, everyMs ms: UInt64) -> Bool {
            let now = KernelClock.nowMonotonicNs()
            guard now &- last >= ms * 1_000_000 else { return false }
            last = now
            return true
        }
        while control.waitForWork(timeoutMs: 100) {
            let version = plans.changes
            control.runPending(on: self)
            // a policy was loaded or unloaded (compiler, verifier, libbpf): its garbage goes back;
            // its code stays (paging code out now would stall the drain: MemoryRelease);
            // queries change nothing and skip this
            if plans.changes != version { MemoryRelease.releaseHeap() }
            // per-hook loss counters: per-CPU map reads, one bpf syscall per hook
            if due(&lastLossNs, everyMs: 100) { publication.hookLostTotal = policies.lostTotal() }
            if due(&lastStatusNs, everyMs: 1000) { writeStatus() }
            // What the path walk and the identity filters rest on: where file systems are
            // mounted, and which inodes the watched names are now (a file replaced by rename).
            // Until this runs, a replaced file is still matched by its path.
            if due(&lastFilesNs, everyMs: 2000) { refreshFiles() }
        }
    }

    /// After the drain's last read: every policy unloaded (pinned enforcement stays in force).
    func finish() {
        publication.hookLostTotal = policies.lostTotal()
        policies.unloadAll()
        publication.publish(statuses: [], owners: [:])
        try? FileManager.default.removeItem(atPath: configuration.statusFile)
        if let pins = enforcementPins, !pins.pinnedPolicies.isEmpty {
            logger.notice(
                "enforcing policies stay in force while no agent runs; the next agent takes them over, `vigil cleanup` ends them",
                metadata: ["policies": "\(pins.pinnedPolicies.joined(separator: ","))", "pins": "\(pins.generation)"])
        }
    }

    private func refreshFiles() {
        let now = SuperBlockRoots.current()
        if now != mounts {
            do { try SuperBlockRoots.write(now, into: superBlockRoots) } catch {
                logger.error("file system roots not refreshed", metadata: ["error": "\(error)"])
            }
            mounts = now
        }
        let added = policies.refreshIdentities()
        if added > 0 { logger.info("watched files re-resolved", metadata: ["identities.added": "\(added)"]) }
    }

    /// The policy status file (`vigil policy list`), the pins of what enforces, and what the
    /// drain thread and the metrics read.
    func writeStatus() {
        let status = policies.status()
        enforcementPins?.sync(sensor: sensorPins, policies: policies)
        var owners: [String: String] = [:]
        for p in status { owners[p.name] = sources.owner(of: p.name) ?? "" }
        publication.publish(statuses: status, owners: owners)
        let file = AgentStatusFile(
            agent: .init(pid: getpid(), started: readiness.startedAt, updated: Date(), ready: readiness.current == .ready), policies: status)
        guard let data = try? AgentStatusFile.encoder.encode(file) else { return }
        statusWriter.write(data, to: configuration.statusFile)
    }

    /// SIGHUP: the policy files read again; says what changed, or that nothing did.
    func reload() {
        let before = Dictionary(policies.status().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let errors = sources.refresh()
        let after = Dictionary(policies.status().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let added = after.keys.filter { before[$0] == nil }.sorted()
        let removed = before.keys.filter { after[$0] == nil }.sorted()
        let changed = after.keys.filter { k in
            before[k].map { b in b.file != after[k]!.file || b.mode != after[k]!.mode || b.hooks.map(\.hook) != after[k]!.hooks.map(\.hook) } ?? false
        }.sorted()
        for e in errors { logger.error("SIGHUP: \(e)") }
        if added.isEmpty && removed.isEmpty && changed.isEmpty {
            logger.info("SIGHUP: policies unchanged", metadata: ["policies": "\(after.count)", "errors": "\(errors.count)"])
        } else {
            logger.info(
                "SIGHUP: policies reloaded",
                metadata: [
                    "added": "\(added.joined(separator: ","))", "removed": "\(removed.joined(separator: ","))", "changed": "\(changed.joined(separator: ","))",
                ])
        }
        writeStatus()
    }

    // MARK: requests of the API and the fleet (through AgentControl)

    /// A loaded policy's state for the API: its status and which source owns it.
    public struct PolicyView: Sendable {
        public var status: PolicyStatus
        public var owner: String
    }

    public func policyViews() -> [PolicyView] {
        policies.status().map { PolicyView(status: $0, owner: sources.owner(of: $0.name) ?? "") }
    }

    /// A fleet policy's generation for this node: loaded (replacing its previous generation)
    /// or refused with why; the statuses of the policies it loaded.
    public func applyFleetPolicy(entry: String, yaml: String, mode: PolicyMode?) throws(PolicyRequestRefusal) -> [PolicyStatus] {
        defer { writeStatus() }
        let names = try sources.applyFromFleet(entry: entry, yaml: yaml, mode: mode)
        return policies.status().filter { names.contains($0.name) }
    }

    /// A fleet policy deleted or no longer for this node.
    public func removeFleetPolicy(entry: String) {
        defer { writeStatus() }
        sources.removeFromFleet(entry: entry)
    }

    /// The fleet policies this node runs, with the statuses of their policies (for the
    /// per-node states it reports, counters included).
    public func fleetPolicyStatuses() -> [String: [PolicyStatus]] {
        let all = policies.status()
        return sources.addedByFleet.mapValues { names in all.filter { names.contains($0.name) } }
    }

    /// AddTracingPolicy: loads every policy of `yaml` or none; the error says why.
    public func addPolicy(yaml: String) throws -> [String] {
        defer { writeStatus() }
        return try sources.addFromAPI(yaml: yaml)
    }

    /// DeleteTracingPolicy: only a policy the API added.
    public func deletePolicy(name: String) throws {
        defer { writeStatus() }
        try sources.deleteFromAPI(name: name)
    }

    /// ConfigureTracingPolicy: enable, disable or switch the mode of a loaded policy.
    public func configurePolicy(name: String, enable: Bool?, mode: PolicyMode?) throws(PolicyRequestRefusal) {
        defer { writeStatus() }
        try sources.configure(name: name, enable: enable, mode: mode)
    }
}

/// What the policy thread publishes for the others: the policies' statuses and owners (for
/// the drain thread's stats and the metrics), and their hooks' ring-buffer loss.
public final class PolicyPublication: Sendable {
    private let state = Mutex<(statuses: [PolicyStatus], owners: [String: String])>(([], [:]))
    private let hookLost = Atomic<UInt64>(0)

    public init() {}

    func publish(statuses: [PolicyStatus], owners: [String: String]) { state.withLock { $0 = (statuses, owners) } }

    public var statuses: [PolicyStatus] { state.withLock { $0.statuses } }
    public var owners: [String: String] { state.withLock { $0.owners } }

    /// Records the loaded hooks could not queue, in total (lost_events' process_hook).
    public internal(set) var hookLostTotal: UInt64 {
        get { hookLost.load(ordering: .relaxed) }
        set { hookLost.store(newValue, ordering: .relaxed) }
    }
}
