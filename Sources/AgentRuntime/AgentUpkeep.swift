import AgentCore
import BPFKit
import Datapath
import Foundation
import Logging
import NetworkPolicy
import PolicyYAML
import Synchronization

/// The agent's periodic upkeep, on a thread of its own so the drain thread does only the
/// drain: the datapath's endpoint records and network policy files checked every 200 ms and
/// written to the kernel (an apply of a large policy takes milliseconds), its status file,
/// the kernel tables' filling every 15 s (a walk of their keys, one syscall per key) and the
/// exposure metrics (every endpoint's ports against every policy and the window's inbound
/// flows: milliseconds to seconds on a large node). The drain hands this the inbound flows it
/// sees (`observeInbound`) and reads only what this publishes: flow naming through the
/// controller's `FlowNamer`, and `published`.
final class AgentUpkeep: Sendable {
    struct Published: Sendable {
        /// The datapath's revision, endpoints and policies in force (exposure's inputs).
        var revision: UInt64 = 0
        var endpoints: [EndpointModel] = []
        var policies: [NetworkPolicy] = []
        var occupancy: [MapOccupancy] = []
        /// Exposure: the policies in force against the window's inbound flows.
        var exposure: [ExposureRow] = []
    }

    /// nil when the datapath is off. Locked by the upkeep thread while it runs, by the agent's
    /// start and stop otherwise: the drain thread never takes it.
    private let sources: Mutex<DatapathSources?>
    /// The flow namer of the datapath's controller (nil without the datapath).
    let namer: FlowNamer?
    private let processes: Mutex<BPFMap?>
    private let statusFile: String
    /// Inbound flows of the exposure window (nil without the datapath): folded in by the drain
    /// thread, read here every 15 s.
    private let inbound: Mutex<InboundHistory?>
    private let state = Mutex(Published())
    private let stopping = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)
    private let thread = Mutex<OwnedThread?>(nil)

    init(datapath: consuming sending DatapathSources?, processes: consuming sending BPFMap?, statusFile: String, exposureWindowSeconds: UInt32) {
        namer = datapath?.controller.namer
        inbound = Mutex(datapath == nil ? nil : InboundHistory(windowSeconds: UInt64(exposureWindowSeconds)))
        sources = Mutex(datapath)
        self.processes = Mutex(processes)
        self.statusFile = statusFile
    }

    var hasDatapath: Bool { namer != nil }

    /// The agent's start, before the thread: the datapath's programs take their interfaces,
    /// the endpoints file's endpoints are created, and the endpoints and policies applied.
    /// nil without the datapath; `bad` lists what failed (then nothing of it stays loaded).
    func startDatapath(endpointsFile: String?, logger: Logger) throws -> (bad: [String], endpoints: Int, policies: Int)? {
        try sources.withLock { s throws -> (bad: [String], endpoints: Int, policies: Int)? in
            guard let s else { return nil }
            try s.controller.kernel.attachOwners()
            try Self.createListedEndpoints(s, file: endpointsFile, logger: logger)
            s.refresh()
            let bad = s.errors
            if !bad.isEmpty { s.controller.releaseAll() }  // what was in force before stays in force
            return (bad, s.controller.endpointModels.count, s.controller.policies.count)
        }
    }

    /// The agent stops (after `stop()`) or gives up starting: the datapath stays in force,
    /// pinned, for the next agent to take over.
    func releaseDatapath() { sources.withLock { $0?.controller.releaseAll() } }

    /// The drain thread: a new inbound flow of the datapath (admitted or audited), counted
    /// toward its endpoint's port. A repeat of a pair already held costs a lookup.
    func observeInbound(_ r: FlowRecord, _ event: FlowEvent) {
        let proto = PortRange.Proto(rawValue: event.proto) ?? .any
        inbound.withLock { history in
            if history?.fold(local: r.daddr, remote: r.saddr, proto: proto, port: r.dport, timeNs: r.timeNs) == false {
                history?.record(ObservedFlow(inbound: event, local: r.daddr, remote: r.saddr, timeNs: r.timeNs))
            }
        }
    }

    /// What the upkeep last published.
    var published: Published { state.withLock { $0 } }

    /// Publishes the start-up state, then runs every 200 ms until `stop()`.
    func start() {
        sources.withLock { s in
            if let s { publish(s) }
        }
        measureTables()
        thread.withLock { $0 = OwnedThread { [self] in run() } }
    }

    /// Ends the thread (at most one period) and waits for it; the status file goes.
    func stop() {
        stopping.store(true, ordering: .relaxed)
        wake.signal()
        thread.withLock { $0.take() }?.join()
        if hasDatapath { try? FileManager.default.removeItem(atPath: statusFile) }
    }

    private func run() {
        var statusWriter = StatusFileWriter()
        var lastStatusNs: UInt64 = 0
        var lastTablesNs = KernelClock.nowMonotonicNs()
        var lastExposureNs: UInt64 = 0
        var exposureRevision: UInt64 = 0
        while !stopping.load(ordering: .relaxed) {
            let now = KernelClock.nowMonotonicNs()
            sources.withLock { s in
                guard let s else { return }
                let dirty = s.refresh()
                if dirty { publish(s) }
                if dirty || now &- lastStatusNs >= 1_000_000_000 {
                    lastStatusNs = now
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    if let d = try? encoder.encode(s.controller.status(errors: s.errors)) { statusWriter.write(d, to: statusFile) }
                }
            }
            if now &- lastTablesNs >= 15_000_000_000 {
                lastTablesNs = now
                measureTables()
            }
            // exposure every 15 s, and at once when the policies or endpoints changed
            if hasDatapath {
                let revision = state.withLock { $0.revision }
                if now &- lastExposureNs >= 15_000_000_000 || revision != exposureRevision {
                    lastExposureNs = now
                    exposureRevision = revision
                    computeExposure(nowNs: now)
                }
            }
            _ = wake.wait(timeout: .now() + .milliseconds(200))
        }
    }

    private func publish(_ s: DatapathSources) {
        let p = (s.controller.revision, s.controller.endpointModels, s.controller.policies)
        state.withLock {
            $0.revision = p.0
            $0.endpoints = p.1
            $0.policies = p.2
        }
    }

    private func computeExposure(nowNs: UInt64) {
        let observed = inbound.withLock { $0?.window(nowNs: nowNs) ?? [] }
        let inForce = state.withLock { ($0.endpoints, $0.policies) }
        let rows = Exposure.compute(endpoints: inForce.0, policies: inForce.1, observed: observed)
        state.withLock { $0.exposure = rows }
    }

    /// The endpoints file's endpoints that do not exist yet are created (or adopted).
    private static func createListedEndpoints(_ datapath: DatapathSources, file: String?, logger: Logger) throws {
        guard let file else { return }
        let (specs, diagnostics) = EndpointFileLoader.load(path: file)
        guard diagnostics.isEmpty else {
            throw AgentStartError(message: "endpoints file has errors:\n" + diagnostics.map(\.description).joined(separator: "\n"))
        }
        let existing = Dictionary(datapath.endpoints.list().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for s in specs {
            if let r = existing[s.name] {
                if (r.policyAuditMode ?? false) != s.policyAuditMode { try datapath.endpoints.setPolicyAuditMode(name: s.name, s.policyAuditMode) }
                continue
            }
            let r = try datapath.endpoints.create(
                .init(name: s.name, namespace: s.namespace, labels: s.labels, adoptNetns: s.netns, policyAuditMode: s.policyAuditMode))
            logger.info("endpoint created", metadata: ["endpoint": "\(r.name)", "address": "\(r.address)"])
        }
    }

    /// The tables' entries and capacity: the process table, the datapath's.
    private func measureTables() {
        var maps: [MapOccupancy] = []
        if let o = processes.withLock({ try? $0?.occupancy() }) { maps.append(MapOccupancy(map: "processes", entries: o.entries, capacity: o.capacity)) }
        for o in sources.withLock({ $0?.controller.kernel.occupancy() ?? [] }) {
            maps.append(MapOccupancy(map: o.map, entries: o.entries, capacity: o.capacity))
        }
        state.withLock { $0.occupancy = maps }
    }
}
