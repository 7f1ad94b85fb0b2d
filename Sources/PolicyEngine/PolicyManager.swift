import AgentCore
import BPFKit
import Foundation
import PolicyModel

/// The loaded policies: loads each atomically (every hook loads and attaches, or none
/// stays), replaces a policy of the same name only once its successor runs, unloads by
/// detaching everything, and finds the plan behind each hook record.
public final class PolicyManager {
    public struct Loaded {
        public let policy: TracingPolicy
        public let hooks: [HookProgram]
        /// Hooks left out under `allow-partial-load`, with why.
        public let skipped: [EngineError]
        public let loadedAt: Date
    }

    public let shared: HookProgram.SharedMaps
    public let environment: KernelEnvironment
    public private(set) var loaded: [String: Loaded] = [:]
    /// Policies disabled at run time (ConfigureTracingPolicy): kept, nothing in the kernel.
    public private(set) var disabled: [String: TracingPolicy] = [:]

    /// Re-resolves the files the loaded hooks' filters name (FileIdentitySet): a watched file
    /// replaced since (a new inode, e.g. passwd writing /etc/shadow+ and renaming it over) gets
    /// its new identity added. Returns how many identities were added.
    @discardableResult
    public func refreshIdentities() -> Int {
        var added = 0
        for (_, p) in loaded {
            for h in p.hooks { added += (try? h.refreshIdentities()) ?? 0 }
        }
        // followChildren binaries installed or replaced since (a new inode)
        added += (try? shared.follow.refreshAll()) ?? 0
        return added
    }
    /// Plans by hook id, for the record decoders (other threads read it: PlanTable). Boxed: a
    /// plan carries its 3.7 KB kernel config, and every record looks its plan up.
    public let plans: PlanTable
    /// This thread's reader of `plans` (decode on the loading thread: tests, tools).
    private var reader: PlanReader
    private var nextHookID: UInt32 = 1

    public init(shared: HookProgram.SharedMaps, environment: KernelEnvironment = .running, plans: PlanTable = PlanTable()) {
        self.shared = shared
        self.environment = environment
        self.plans = plans
        reader = plans.reader()
    }

    /// Compiles, loads and attaches every hook of `policy`. On any failure nothing of it stays
    /// in the kernel and a policy of the same name that was running keeps running.
    public func load(_ policy: TracingPolicy) throws(PolicyLoadError) {
        // A trampoline the kernel refuses for one function (EBUSY, a function ftrace cannot
        // patch) falls back to a kprobe for that function, when the kernel has kprobes.
        var noTrampoline: Set<String> = []
        while true {
            do {
                try load(policy, avoidingTrampolinesFor: noTrampoline)
                return
            } catch let error {
                guard case .kernel(_, _)? = error.reasons.first, let symbol = error.trampolineSymbol,
                    !noTrampoline.contains(symbol), environment.status(.kprobe).isSupported
                else { throw error }
                noTrampoline.insert(symbol)
            }
        }
    }

    private func load(_ policy: TracingPolicy, avoidingTrampolinesFor noTrampoline: Set<String>) throws(PolicyLoadError) {
        var env = environment
        if !noTrampoline.isEmpty {
            let place = environment.place
            env.place = { target in
                if case .function(let s, let r, true) = target, noTrampoline.contains(s) {
                    return place(.function(symbol: s, isReturn: r, preferFentry: false))
                }
                return place(target)
            }
        }
        let compiled: CompiledPolicy
        switch PolicyCompiler.compile(policy, firstHookID: nextHookID, environment: env) {
        case .success(let c): compiled = c
        case .failure(let e): throw e
        }
        nextHookID += UInt32(compiled.plans.count)
        let partial = policy.spec.allowsPartialLoad
        var skipped = compiled.skipped
        var programs: [HookProgram] = []
        do throws(EngineError) {
            for plan in compiled.plans {
                do throws(EngineError) { programs.append(try HookProgram(plan: plan, shared: shared)) } catch {
                    if !partial { throw error }
                    skipped.append(error)
                }
            }
            // Register before attaching: a record can arrive as soon as the first hook is live.
            plans.update { table in for p in programs { table[p.plan.config.hook_id] = LoadedPlan(p.plan) } }
            var attached: [HookProgram] = []
            for p in programs {
                do throws(EngineError) {
                    try p.attach()
                    attached.append(p)
                } catch {
                    if !partial { throw error }
                    skipped.append(error)
                    plans.update { $0[p.plan.config.hook_id] = nil }
                }
            }
            programs = attached
            if programs.isEmpty { throw skipped.first ?? EngineError.unsupported("no hook could be loaded") }
        } catch {
            for p in programs { p.detach() }
            plans.update { table in for p in programs { table[p.plan.config.hook_id] = nil } }
            var failure = PolicyLoadError(policy: policy.name, file: policy.location.file, reasons: partial ? skipped : [error])
            if case .kernel(let hook, _) = error, let p = compiled.plans.first(where: { $0.hookName == hook }),
                p.flavour == .fentry || p.flavour == .fexit, case .function(let symbol) = p.attach
            {
                failure.trampolineSymbol = symbol
            }
            throw failure
        }
        if let old = loaded[policy.name] { retire(old) }
        loaded[policy.name] = Loaded(policy: policy, hooks: programs, skipped: skipped, loadedAt: Date())
        disabled[policy.name] = nil
    }

    /// Detaches and forgets a policy (loaded or disabled); false when none has that name.
    @discardableResult
    public func unload(name: String) -> Bool {
        let wasDisabled = disabled.removeValue(forKey: name) != nil
        guard let old = loaded.removeValue(forKey: name) else { return wasDisabled }
        retire(old)
        return true
    }

    /// Takes a policy out of the kernel but keeps it, to enable again; false when none is loaded by that name.
    @discardableResult
    public func disable(name: String) -> Bool {
        guard let old = loaded.removeValue(forKey: name) else { return disabled[name] != nil }
        retire(old)
        disabled[name] = old.policy
        return true
    }

    /// Loads a disabled policy again; false when none is disabled by that name.
    @discardableResult
    public func enable(name: String) throws(PolicyLoadError) -> Bool {
        guard let policy = disabled[name] else { return loaded[name] != nil }
        try load(policy)
        return true
    }

    /// The policy with another `policy-mode`: reloaded (the old one runs until the new one
    /// does); a disabled one keeps the mode for when it is enabled. False when none has that name.
    @discardableResult
    public func setMode(name: String, _ mode: PolicyMode) throws(PolicyLoadError) -> Bool {
        guard var policy = loaded[name]?.policy ?? disabled[name] else { return false }
        guard policy.spec.mode != mode else { return true }
        policy.spec.options.removeAll { $0.name == "policy-mode" }
        policy.spec.options.append(OptionSpec(name: "policy-mode", value: mode.rawValue))
        if disabled[name] != nil {
            disabled[name] = policy
        } else {
            try load(policy)
        }
        return true
    }

    public func unloadAll() {
        for name in Array(loaded.keys) { unload(name: name) }
    }

    private func retire(_ old: Loaded) {
        for h in old.hooks { h.detach() }
        plans.update { table in for h in old.hooks { table[h.plan.config.hook_id] = nil } }
    }

    /// Records the loaded hooks could not queue, in total (for lost_events).
    public func lostTotal() -> UInt64 {
        loaded.values.reduce(0) { $0 + $1.hooks.reduce(0) { $0 + $1.lost() } }
    }

    /// The plan of hook `id`, while its policy is loaded.
    public func plan(hookID id: UInt32) -> HookPlan? { plans.plan(id)?.plan }

    /// Decodes a hook record on this manager's thread (the agent's drain thread has its own
    /// `plans.reader()`); nil for an unknown hook (its policy was just unloaded) or a short record.
    public func decode(_ bytes: UnsafeRawBufferPointer) -> (DecodedHookRecord, LoadedPlan)? { reader.decode(bytes) }

    /// Every loaded policy with its hooks' states and counters, by name.
    public func status() -> [PolicyStatus] {
        let off = disabled.map { name, p in
            PolicyStatus(name: name, file: p.location.file, mode: p.spec.mode.rawValue, hooks: [], disabled: true)
        }
        return
            (loaded.keys.sorted().map { name in
                let l = loaded[name]!
                return PolicyStatus(
                    name: name, file: l.policy.location.file, mode: l.policy.spec.mode.rawValue,
                    hooks: l.hooks.map { h in
                        PolicyStatus.Hook(
                            hook: h.plan.hookName, tier: h.plan.flavour.rawValue, attachPoint: h.plan.attach.description,
                            state: h.isAttached ? "attached" : "detached", counters: h.counters())
                    }, skipped: l.skipped.map(LoadCheck.shortReason))
            } + off).sorted { $0.name < $1.name }
    }
}

/// What `vigil policy list` shows for one loaded policy.
public struct PolicyStatus: Sendable, Codable, Equatable {
    public struct Hook: Sendable, Codable, Equatable {
        public var hook: String
        public var tier: String
        public var attachPoint: String
        public var state: String
        public var counters: HookCounters
    }
    public var name: String
    public var file: String
    public var mode: String
    public var hooks: [Hook]
    /// Hooks left out under allow-partial-load, with why.
    public var skipped: [String] = []
    /// Disabled at run time: kept, not in the kernel.
    public var disabled = false
}

/// A loaded hook's plan, shared by reference with the record decoder (no per-record copy).
public final class LoadedPlan: Sendable {
    public let plan: HookPlan
    init(_ plan: HookPlan) { self.plan = plan }
}

/// The agent's status file (`--status-file`, read by `vigil policy list`): which agent wrote
/// it and when, so a reader can tell a running agent's policies from a dead one's.
public struct AgentStatusFile: Sendable, Codable, Equatable {
    public struct AgentInfo: Sendable, Codable, Equatable {
        public var pid: Int32
        public var started: Date
        public var updated: Date
        public var ready: Bool
        public init(pid: Int32, started: Date, updated: Date, ready: Bool) {
            self.pid = pid
            self.started = started
            self.updated = updated
            self.ready = ready
        }
    }
    public var agent: AgentInfo
    public var policies: [PolicyStatus]

    public init(agent: AgentInfo, policies: [PolicyStatus]) {
        self.agent = agent
        self.policies = policies
    }

    /// The agent rewrites the file every second: older than this, or its pid gone, it is stale.
    public static let staleAfter: TimeInterval = 10

    /// Why the file no longer describes a running agent, nil while it does.
    public func staleness(now: Date = Date(), isRunning: (Int32) -> Bool) -> String? {
        if !isRunning(agent.pid) { return "the agent that wrote it (pid \(agent.pid)) is not running" }
        let age = now.timeIntervalSince(agent.updated)
        if age > Self.staleAfter { return "not updated for \(Int(age)) s (the agent, pid \(agent.pid), may be stuck)" }
        return nil
    }

    public static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        e.dateEncodingStrategy = .iso8601
        return e
    }()

    public static func decode(_ data: Data) throws -> AgentStatusFile {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return try d.decode(AgentStatusFile.self, from: data)
    }
}
