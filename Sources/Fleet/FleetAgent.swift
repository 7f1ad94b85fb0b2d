import AgentRuntime
import Foundation
import KernelFeatures
import Logging
import PolicyEngine
import PolicyModel
import Synchronization

/// The agent's side of fleet mode: registers the node under a lease, follows the fleet's
/// tracing policies (list, then watch), loads those whose `nodes` match this node's labels,
/// and reports each one's state under the lease.
///
/// etcd going away changes nothing in the kernel: the last applied policies keep running and
/// are kept on disk (`FleetLocalCopy`), so an agent started while etcd is down runs them too.
/// The outage is logged and counted; the agent reconnects with backoff (trying each endpoint)
/// and resynchronizes by listing again, which also covers a compacted watch revision.
public final class FleetAgent: Sendable {
    public struct Settings: Sendable {
        public var etcd: EtcdSettings
        public var node: String
        public var labels: [String: String]
        public var leaseTTL: Int64
        public var stateDirectory: String

        public init(etcd: EtcdSettings, node: String, labels: [String: String], leaseTTL: Int64, stateDirectory: String) {
            self.etcd = etcd
            self.node = node
            self.labels = labels
            self.leaseTTL = leaseTTL
            self.stateDirectory = stateDirectory
        }
    }

    let settings: Settings
    let agent: AgentHandle
    let logger: Logger
    let keys: FleetKeys
    let local: FleetLocalCopy
    /// The fleet policies as last seen (from etcd or the local copy), by name.
    private let known = Mutex<[String: FleetPolicy]>([:])
    /// What this node reported for each, so unchanged states are not rewritten.
    private let reported = Mutex<[String: FleetPolicyState]>([:])
    /// Policies for other nodes' labels, and generations that failed here (with why).
    private let skipped = Mutex<[String: FleetPolicy]>([:])
    private let failures = Mutex<[String: (FleetPolicy, String)]>([:])
    /// The policy-set hash last written in this node's record.
    private let lastHash = Mutex<String>("")
    private let task = Mutex<Task<Void, Never>?>(nil)

    public init(settings: Settings, agent: AgentHandle, logger: Logger) {
        self.settings = settings
        self.agent = agent
        self.logger = logger
        keys = FleetKeys(prefix: settings.etcd.prefix)
        local = FleetLocalCopy(directory: settings.stateDirectory)
        network = agent.identities.map {
            FleetNetwork(
                table: $0, keys: FleetKeys(prefix: settings.etcd.prefix), node: settings.node, labels: settings.labels, leaseTTL: settings.leaseTTL,
                stateDirectory: settings.stateDirectory, logger: logger)
        }
    }

    /// Cluster identities and endpoints (fleet mode with the datapath).
    let network: FleetNetwork?

    /// Starts following the fleet (on the concurrency pool, never on the drain thread).
    public func start() {
        agent.fleet.enabled.store(true, ordering: .relaxed)
        let t = Task.detached { [self] in
            await run()
            finished.signal()
        }
        task.withLock { $0 = t }
    }

    private let finished = DispatchSemaphore(value: 0)

    /// Stops following and revokes the node's lease, so its keys go at once (waits up to 2 s
    /// for etcd; without an answer they go when the lease's TTL runs out).
    public func stop() {
        guard let t = task.withLock({ $0 }) else { return }
        t.cancel()
        _ = finished.wait(timeout: .now() + 2)
    }

    func run() async {
        // the last applied state first: an agent started while etcd is down enforces it
        let copy = local.load(logger: logger)
        if !copy.isEmpty {
            logger.info("fleet: loading the local copy", metadata: ["policies": "\(copy.map(\.name).sorted().joined(separator: ","))"])
            for p in copy { _ = await apply(p) }
        }
        network?.loadLocalCopy()
        var attempt = 0
        var backoff: Duration = .milliseconds(250)
        while !Task.isCancelled {
            let endpoint = settings.etcd.endpoints[attempt % settings.etcd.endpoints.count]
            attempt += 1
            let client: EtcdClient
            do { client = try EtcdClient(endpoint: endpoint, settings: settings.etcd) } catch {
                logger.error("fleet: \(error)")
                return
            }
            var lease: Int64 = 0
            do {
                lease = try await client.grantLease(ttl: settings.leaseTTL)
                try await session(client, lease: lease) { backoff = .milliseconds(250) }
            } catch {
                if agent.fleet.connected.exchange(false, ordering: .relaxed) {
                    agent.fleet.outages.wrappingAdd(1, ordering: .relaxed)
                    logger.warning(
                        "fleet: etcd connection lost; the last applied policies keep running", metadata: ["endpoint": "\(endpoint)", "error": "\(error)"])
                } else if !Task.isCancelled {
                    logger.notice("fleet: etcd not reachable; retrying", metadata: ["endpoint": "\(endpoint)", "error": "\(error)", "retry-in": "\(backoff)"])
                }
            }
            if Task.isCancelled {
                // this task is cancelled, and so would its calls be: the revoke runs on its own
                if lease != 0 { await Task.detached { try? await client.revoke(lease: lease) }.value }
                client.close()
                return
            }
            client.close()
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
        }
    }

    /// One connection's life: register, list, then follow; returns (throws) when it breaks.
    private func session(_ client: EtcdClient, lease: Int64, connected: () -> Void) async throws {
        reported.withLock { $0.removeAll() }  // a new lease: every state is written again
        lastHash.withLock { $0 = "" }
        try await client.put(keys.node(settings.node), FleetJSON.encode(nodeRecord()), lease: lease)
        let listed = try await resync(client, lease: lease)
        network?.reset()
        let networkListed = try await network?.resync(client: client) ?? 0
        agent.fleet.connected.store(true, ordering: .relaxed)
        logger.info("fleet: connected", metadata: ["endpoint": "\(client.endpoint)", "node": "\(settings.node)", "revision": "\(listed)"])
        connected()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.keepAlive(client, lease: lease) }
            group.addTask { try await self.reportPeriodically(client, lease: lease) }
            group.addTask {
                try await client.follow(
                    prefix: self.keys.policies, from: listed, relist: { try await self.resync(client, lease: lease) },
                    onCompacted: self.relisting(self.keys.policies)
                ) { changes in await self.handle(changes, client: client, lease: lease) }
            }
            if let network {
                group.addTask {
                    while true {
                        try await network.sync(client: client, lease: lease)
                        try await Task.sleep(for: .milliseconds(200))
                    }
                }
                for prefix in [keys.identityIDs, keys.endpoints, keys.netPolicies] {
                    group.addTask {
                        try await client.follow(
                            prefix: prefix, from: networkListed, relist: { try await network.resync(client: client) },
                            onCompacted: self.relisting(prefix)
                        ) { changes in network.handle(changes) }
                    }
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// Counts and logs a watch that lists again because etcd compacted its revision.
    private func relisting(_ prefix: String) -> @Sendable (Int64) -> Void {
        { [agent, logger] compacted in
            agent.fleet.relists.wrappingAdd(1, ordering: .relaxed)
            logger.notice("fleet: watch revision compacted; listing again", metadata: ["prefix": "\(prefix)", "compacted": "\(compacted)"])
        }
    }

    /// Renews the lease every TTL/3; throws when etcd lets it lapse (the node's keys are gone).
    private func keepAlive(_ client: EtcdClient, lease: Int64) async throws {
        let period = Duration.milliseconds(max(settings.leaseTTL * 1000 / 3, 300))
        while true {
            try await Task.sleep(for: period)
            let ttl = try await client.keepAlive(lease: lease)
            if ttl <= 0 { throw EtcdError.unavailable("lease \(lease) expired; registering again") }
        }
    }

    /// The counters in the states move (would-have-acted in monitor mode): written every 2 s
    /// when they changed, so a staged rollout can read them per node.
    private func reportPeriodically(_ client: EtcdClient, lease: Int64) async throws {
        while true {
            try await Task.sleep(for: .seconds(2))
            try await report(client, lease: lease)
        }
    }

    /// Lists the fleet's policies and makes this node match them; returns the list's revision.
    private func resync(_ client: EtcdClient, lease: Int64) async throws -> Int64 {
        let (values, revision) = try await client.list(prefix: keys.policies)
        var seen: Set<String> = []
        for kv in values {
            let name = FleetKeys.name(of: kv.key)
            seen.insert(name)
            await consider(name: name, value: kv.value)
        }
        for gone in known.withLock({ Array($0.keys) }) where !seen.contains(gone) { await forget(gone) }
        // states of policies that no longer exist (from a previous run under the same name)
        let (mine, _) = try await client.list(prefix: keys.states(of: settings.node))
        for kv in mine where !seen.contains(FleetKeys.name(of: kv.key)) { try await client.delete(kv.key) }
        try await report(client, lease: lease)
        return revision
    }

    private func handle(_ changes: [EtcdChange], client: EtcdClient, lease: Int64) async {
        for change in changes {
            switch change {
            case .put(let kv): await consider(name: FleetKeys.name(of: kv.key), value: kv.value)
            case .delete(let key, _):
                let name = FleetKeys.name(of: key)
                await forget(name)
                try? await client.delete(keys.state(node: settings.node, policy: name))
            }
        }
        try? await report(client, lease: lease)
    }

    /// A policy key's value: loaded when it selects this node (and is new to it), unloaded
    /// when it no longer does. A value that does not decode is reported, never half-applied.
    private func consider(name: String, value: [UInt8]) async {
        let policy: FleetPolicy
        do { policy = try FleetJSON.decode(FleetPolicy.self, value) } catch {
            logger.error("fleet: \(keys.policy(name)): not a fleet policy (\(error)); ignored, the previous state stays")
            reported.withLock { $0[name] = nil }
            return
        }
        guard policy.selects(settings.labels) else {
            if known.withLock({ $0.removeValue(forKey: name) }) != nil {
                _ = try? await agent.control.perform { agent in agent.removeFleetPolicy(entry: name) }
                local.remove(name)
            }
            skipped.withLock { $0[policy.name] = policy }
            return
        }
        if let current = known.withLock({ $0[name] }), current.generation == policy.generation, current.yaml == policy.yaml, current.mode == policy.mode {
            return
        }
        _ = await apply(policy)
    }

    /// Loads one generation on this node; remembers it (and keeps it on disk) when it loaded.
    private func apply(_ policy: FleetPolicy) async -> Bool {
        skipped.withLock { $0[policy.name] = nil }
        let mode = policy.mode.flatMap(PolicyMode.init(rawValue:))
        do {
            _ = try await agent.control.perform { agent in try agent.applyFleetPolicy(entry: policy.name, yaml: policy.yaml, mode: mode) }
            known.withLock { $0[policy.name] = policy }
            failures.withLock { $0[policy.name] = nil }
            local.save(policy)
            agent.fleet.applied.wrappingAdd(1, ordering: .relaxed)
            return true
        } catch {
            agent.fleet.failed.wrappingAdd(1, ordering: .relaxed)
            logger.error("fleet: policy \(policy.name) generation \(policy.generation) not loaded on this node: \(error)")
            failures.withLock { $0[policy.name] = (policy, "\(error)") }
            return false
        }
    }

    private func forget(_ name: String) async {
        known.withLock { $0[name] = nil }
        failures.withLock { $0[name] = nil }
        skipped.withLock { $0[name] = nil }
        reported.withLock { $0[name] = nil }
        _ = try? await agent.control.perform { agent in agent.removeFleetPolicy(entry: name) }
        local.remove(name)
    }

    /// Writes this node's state of each fleet policy it knows (changed ones only).
    private func report(_ client: EtcdClient, lease: Int64) async throws {
        let statuses = (try? await agent.control.perform { agent in agent.fleetPolicyStatuses() }) ?? [:]
        var states: [FleetPolicyState] = []
        for (name, policy) in known.withLock({ $0 }) {
            let st = statuses[name] ?? []
            let attached = !st.isEmpty && st.allSatisfy { $0.hooks.allSatisfy { $0.state == "attached" } }
            var state = FleetPolicyState(
                policy: name, generation: policy.generation, state: attached ? .loaded : .error,
                error: attached ? nil : "hooks detached: " + st.flatMap { $0.hooks.filter { $0.state != "attached" }.map(\.hook) }.joined(separator: ", "),
                mode: st.first?.mode, hooks: st.flatMap { $0.hooks.map { "\($0.tier):\($0.attachPoint)" } },
                actions: st.reduce(0) { $0 + $1.hooks.reduce(0) { $0 + $1.counters.actions } },
                events: st.reduce(0) { $0 + $1.hooks.reduce(0) { $0 + $1.counters.posted } })
            if let (failed, why) = failures.withLock({ $0[name] }) {
                // a newer generation failed: the older one may still run, the state says both
                state.state = .error
                state.generation = failed.generation
                state.error = why + (st.isEmpty ? "" : " (generation \(policy.generation) keeps running)")
            }
            states.append(state)
        }
        for (name, (failed, why)) in failures.withLock({ $0 }) where !states.contains(where: { $0.policy == name }) {
            states.append(FleetPolicyState(policy: name, generation: failed.generation, state: .error, error: why, mode: failed.mode))
        }
        for (name, policy) in skipped.withLock({ $0 }) {
            let wanted = policy.nodes.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ",")
            states.append(FleetPolicyState(policy: name, generation: policy.generation, state: .skipped, error: "this node's labels do not match \(wanted)"))
        }
        for s in states {
            let previous = reported.withLock { $0[s.policy] }
            var comparable = s
            comparable.updated = previous?.updated ?? s.updated
            if previous == comparable { continue }
            try await client.put(keys.state(node: settings.node, policy: s.policy), FleetJSON.encode(s), lease: lease)
            reported.withLock { $0[s.policy] = s }
        }
        let record = nodeRecord()
        if record.policySetHash != lastHash.withLock({ $0 }) {
            try await client.put(keys.node(settings.node), FleetJSON.encode(record), lease: lease)
            lastHash.withLock { $0 = record.policySetHash }
        }
    }

    private let started = Date()
    /// The kernel and its tiers, probed once (the probes are cached, the report is not).
    private let kernel: (release: String, tiers: [String]) = {
        let report = KernelReport.gather()
        return (report.kernel, report.tiers.compactMap { t in t.tier.map { "\(t.capability.rawValue):\($0.name)" } })
    }()

    func nodeRecord() -> FleetNode {
        let set = known.withLock { $0.values.map { "\($0.name)@\($0.generation)" }.sorted().joined(separator: "\n") }
        return FleetNode(
            name: settings.node, labels: settings.labels, kernel: kernel.release, tiers: kernel.tiers, agentVersion: VigilVersion.string,
            policySetHash: FleetHash.fnv1a64(set), started: started, pid: getpid())
    }
}

/// A short stable hash of a text (FNV-1a, 64 bits) for comparing policy sets across nodes.
enum FleetHash {
    static func fnv1a64(_ s: String) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return String(h, radix: 16)
    }
}
