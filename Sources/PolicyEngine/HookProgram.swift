import BPFKit
import BPFObjects
import CVigilABI

/// One loaded hook: its own copy of bpf/progs/hook.bpf.c, specialized by the plan's
/// config, its value sets written, and (after `attach`) its link.
public final class HookProgram {
    public let plan: HookPlan
    let object: BPFObject
    let program: BPFProgram
    /// hook_connect_exit, for a cgroup connect hook that signals (see ConnectLowering).
    let companion: BPFProgram?
    private var link: BPFLink?
    private var companionLink: BPFLink?

    /// The shared maps every hook writes to / reads from (the process sensor's), and the
    /// tracked sockets, made when the first hook that tracks or reads sockets loads.
    public struct SharedMaps {
        public var events: BPFMap
        public var processes: BPFMap
        public var wakeupBytes: UInt64
        public let trackedSockets = TrackedSockets()
        public init(events: BPFMap, processes: BPFMap, wakeupBytes: UInt64) {
            self.events = events
            self.processes = processes
            self.wakeupBytes = wakeupBytes
        }
    }

    /// The one `tracked_socks` map of all hooks (TrackSock / UntrackSock, bpf/include/hook_maps.h).
    public final class TrackedSockets {
        /// Tetragon's socket-tracking map holds 32768 sockets; an LRU map preallocates them
        /// (about 2.5 MiB of kernel memory), hence only once a hook needs it.
        public static let capacity = 32768
        private var created: BPFMap?

        public init() {}

        public func map() throws(BPFError) -> BPFMap {
            if let created { return created }
            let m = try BPFMap.create(kind: .lruHash, name: "tracked_socks", keySize: 8,
                                      valueSize: MemoryLayout<vigil_tracked_sock>.size, maxEntries: Self.capacity)
            created = m
            return m
        }

        /// Sockets tracked now (tests); 0 before any hook needed the map.
        public func count() -> Int { (try? created?.keys().count) ?? 0 }
    }

    /// Opens, specializes, loads (verifier) and fills the hook's maps. Nothing is attached.
    public init(plan: HookPlan, shared: SharedMaps) throws(EngineError) {
        self.plan = plan
        let hook = plan.hookName
        do throws(BPFError) {
            guard let image = BPFObjects.object(named: "hook") else {
                throw BPFError(operation: "embedded object lookup", subject: "object hook", errno: 2)
            }
            object = try BPFObject(bytes: image, name: "hook")
            let defersSignals = plan.config.flags & VIGIL_HOOKF_DEFER_SIGNAL != 0
            try object.keepOnly(programs: Set([plan.flavour.programName] + (defersSignals ? [HookFlavour.deferredSignalProgram] : [])))
            program = try object.program(plan.flavour.programName)
            companion = defersSignals ? try object.program(HookFlavour.deferredSignalProgram) : nil
            if defersSignals { try object.map("deferred_signals").setMaxEntries(4096) }
            switch plan.attach {
            case .function(let symbol) where plan.flavour.needsAttachTargetAtLoad: try program.setAttachTarget(function: symbol)
            case .lsm(let h): try program.setAttachTarget(function: h) // libbpf adds the bpf_lsm_ prefix
            default: break
            }
            try object.map("events").reuse(shared.events)
            try object.map("processes").reuse(shared.processes)
            try object.map("strings").setMaxEntries(max(1, plan.sets.strings.count))
            try object.map("rstrings").setMaxEntries(max(1, plan.sets.reversedStrings.count))
            try object.map("ints").setMaxEntries(max(1, plan.sets.integers.count))
            // The rate-limit LRU is preallocated (about 1 MiB at 8192 entries): only hooks that limit get it.
            if !plan.usesRateLimit { try object.map("rates").setMaxEntries(1) }
            if plan.usesTrackedSockets { try object.map("tracked_socks").reuse(shared.trackedSockets.map()) }
            try object.setRodata("hook_config", to: plan.config)
            try object.setRodata("wakeup_bytes", to: shared.wakeupBytes)
            try object.load()
            let value = vigil_string_value()
            for e in plan.sets.strings { try object.map("strings").update(key: ValueSets.trieKey(e), value: bytes(of: withLength(value, e.length))) }
            for e in plan.sets.reversedStrings { try object.map("rstrings").update(key: ValueSets.trieKey(e), value: bytes(of: withLength(value, e.length))) }
            for (set, v) in plan.sets.integers {
                try object.map("ints").update(vigil_int_key(set: set, pad: 0, value: v), UInt8(1))
            }
        } catch {
            throw .kernel(hook: hook, error: error)
        }
    }

    /// Attaches the program where the plan says. Idempotent.
    public func attach() throws(EngineError) {
        guard link == nil else { return }
        do throws(BPFError) {
            switch (plan.flavour, plan.attach) {
            case (.tracepoint, .tracepoint(let s, let e)): link = try program.attachTracepoint(category: s, name: e)
            case (.rawTracepoint, .rawTracepoint(let e)): link = try program.attachRawTracepoint(e)
            case (.kprobe, .function(let f)): link = try program.attachKprobe(f)
            case (.kretprobe, .function(let f)): link = try program.attachKprobe(f, retprobe: true)
            case (.lsm, _): link = try program.attachLSM()
            case (.uprobe, .uprobe(let binary, let symbol, let offset)): link = try program.attachUprobe(binary: binary, function: symbol, offset: offset)
            case (_, .cgroupRoot):
                guard let root = KernelFilesystems.cgroup2Root() else {
                    throw BPFError(operation: "attach", subject: "\(plan.flavour.rawValue): no cgroup v2 mount in /proc/mounts", errno: 2)
                }
                // the signal sender first: a connect the cgroup program marks must find it attached
                if let companion { companionLink = try companion.attach() }
                link = try program.attachCgroup(path: root)
            default: link = try program.attachTrace()
            }
        } catch {
            throw .kernel(hook: plan.hookName, error: error)
        }
    }

    public func detach() {
        link?.close()
        link = nil
        companionLink?.close()
        companionLink = nil
    }

    public var isAttached: Bool { link != nil }

    deinit { detach() }

    /// Records this hook could not queue (ring buffer full), summed over CPUs.
    public func lost() -> UInt64 { statSum(VIGIL_STAT_LOST) }

    private func statSum(_ i: UInt32) -> UInt64 {
        guard let map = try? object.map("stats") else { return 0 }
        let perCPU = (try? map.lookupPerCPU(key: bytes(of: i))) ?? nil
        return (perCPU ?? []).reduce(0) { $0 + $1.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }
    }

    /// The hook's counters (VIGIL_STAT_*), summed over CPUs.
    public func counters() -> HookCounters {
        guard let map = try? object.map("stats") else { return HookCounters() }
        func sum(_ i: UInt32) -> UInt64 {
            let perCPU = (try? map.lookupPerCPU(key: bytes(of: i))) ?? nil
            return (perCPU ?? []).reduce(0) { $0 + $1.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }
        }
        var c = HookCounters(runs: sum(VIGIL_STAT_RUNS), posted: sum(VIGIL_STAT_POSTED), actions: sum(VIGIL_STAT_ACTIONS), lost: sum(VIGIL_STAT_LOST))
        if let s = try? program.runStats(), s.runCount > 0 { c.nsPerRun = s.runTimeNs / s.runCount }
        return c
    }
}

/// Per-hook counters, from the kernel.
public struct HookCounters: Sendable, Equatable, Codable {
    public var runs: UInt64 = 0
    public var posted: UInt64 = 0
    public var actions: UInt64 = 0
    public var lost: UInt64 = 0
    /// The kernel's average run time of the hook's program (kernel.bpf_stats_enabled=1 only).
    public var nsPerRun: UInt64? = nil
}

private func withLength(_ v: vigil_string_value, _ len: UInt32) -> vigil_string_value {
    var v = v
    v.len = len
    return v
}

func bytes<T: BitwiseCopyable>(of value: T) -> [UInt8] { withUnsafeBytes(of: value) { [UInt8]($0) } }
