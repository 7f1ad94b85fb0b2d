import BPFKit
import BPFObjects
import CVigilABI
import Glibc
import Sensors

/// One loaded hook: its own copy of bpf/progs/hook.bpf.c, specialized by the plan's
/// config, its value sets written, and (after `attach`) its link.
public final class HookProgram {
    public let plan: HookPlan
    /// The libbpf object, until the hook is attached: then only descriptors are kept (the
    /// links, `stats`, `file_ids` and the program's for its statistics) and the object is
    /// closed, since its libbpf state (the object's BTF and BTF.ext, every program's
    /// relocated instructions: about 1.3 MB per hook) is never read again. A hook attaches
    /// once: a disabled policy is loaded anew when enabled.
    private var object: BPFObject?
    private var program: BPFProgram?
    /// hook_connect_exit, for a cgroup connect hook that signals (see ConnectLowering).
    private var companion: BPFProgram?
    private var link: BPFLink?
    private var companionLink: BPFLink?
    /// The dispatcher whose chain runs this hook, for an io_uring form (IOUringDispatch), once attached.
    private var ioUring: IOUringDispatch?
    private var chained: IOUringDispatch?
    /// The identities of the files the hook's filters name (map `file_ids`).
    private var fileIDs: BPFMap?
    /// The hook's counters (map `stats`) and its program, for `counters()`.
    private var stats: BPFMap?
    private var programStats: LoadedProgramFD?
    /// Identities in the map, each file held open (a replaced file's old inode stays while a
    /// hardlink made before still names it, and goes when nothing does).
    private let heldIdentities = HeldFiles<FileIdentitySet.Identity>()
    /// The followChildren slots this hook holds (released when it goes).
    private var followSlots: [Int] = []
    private let followRegistry: FollowSlots

    /// The maps every hook shares: the process sensor's (SharedKernelMaps) and the tracked
    /// sockets, made when the first hook that tracks or reads sockets loads.
    public struct SharedMaps {
        public var kernel: SharedKernelMaps
        public let trackedSockets = TrackedSockets()
        /// The io_uring forms' dispatcher and chains, made when the first form loads.
        public let ioUring = IOUringDispatch()
        /// matchBinaries followChildren slots, in the process sensor's maps.
        public let follow: FollowSlots
        public init(_ kernel: SharedKernelMaps) {
            self.kernel = kernel
            follow = FollowSlots(followBinaries: kernel.followBinaries, processes: kernel.processes)
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
            let m = try BPFMap.create(
                kind: .lruHash, name: "tracked_socks", keySize: 8,
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
        followRegistry = shared.follow
        let hook = plan.hookName
        do throws(BPFError) {
            guard let image = BPFObjects.object(named: "hook") else {
                throw BPFError(operation: "embedded object lookup", subject: "object hook", errno: 2)
            }
            let object = try BPFObject(bytes: image, name: "hook")
            self.object = object
            let defersSignals = plan.config.flags & VIGIL_HOOKF_DEFER_SIGNAL != 0
            try object.keepOnly(programs: Set([plan.flavour.programName] + (defersSignals ? [HookFlavour.deferredSignalProgram] : [])))
            let program = try object.program(plan.flavour.programName)
            self.program = program
            companion = defersSignals ? try object.program(HookFlavour.deferredSignalProgram) : nil
            if defersSignals { try object.map("deferred_signals").setMaxEntries(4096) }
            switch plan.attach {
            case .function(let symbol) where plan.flavour.needsAttachTargetAtLoad: try program.setAttachTarget(function: symbol)
            case .lsm(let h): try program.setAttachTarget(function: h)  // libbpf adds the bpf_lsm_ prefix
            default: break
            }
            try shared.kernel.share(with: object)
            try object.map("strings").setMaxEntries(max(1, plan.sets.strings.count))
            try object.map("substrings").setMaxEntries(max(1, plan.sets.substrings.count))
            try object.map("file_ids").setMaxEntries(max(1, plan.identities.capacity))
            try object.map("rstrings").setMaxEntries(max(1, plan.sets.reversedStrings.count))
            try object.map("ints").setMaxEntries(max(1, plan.sets.integers.count))
            // The rate-limit LRU is preallocated (about 1 MiB at 8192 entries): only hooks that limit get it.
            if !plan.usesRateLimit { try object.map("rates").setMaxEntries(1) }
            if plan.usesTrackedSockets { try object.map("tracked_socks").reuse(shared.trackedSockets.map()) }
            if plan.flavour == .ioUringComplete || plan.flavour == .ioUringSubmit {
                try shared.ioUring.share(with: object)
                ioUring = shared.ioUring
            } else {
                try object.map("uring_chain").setMaxEntries(1)
            }
            try object.setRodata("hook_config", to: try withFollowSlots(plan.config, shared.follow))
            try object.load()
            let value = vigil_string_value()
            for e in plan.sets.strings { try object.map("strings").update(key: ValueSets.trieKey(e), value: bytes(of: withLength(value, e.length))) }
            for e in plan.sets.reversedStrings { try object.map("rstrings").update(key: ValueSets.trieKey(e), value: bytes(of: withLength(value, e.length))) }
            for (set, v) in plan.sets.integers {
                try object.map("ints").update(vigil_int_key(set: set, pad: 0, value: v), UInt8(1))
            }
            for (i, bytes) in plan.sets.substrings.enumerated() {
                var v = vigil_substring()
                v.len = UInt32(bytes.count)
                withUnsafeMutableBytes(of: &v.bytes) { $0.copyBytes(from: bytes) }
                try object.map("substrings").update(UInt32(i), v)
            }
            fileIDs = try object.map("file_ids")
            stats = try object.map("stats")
            try refreshIdentities()
        } catch {
            throw .kernel(hook: hook, error: error)
        }
    }

    /// The config with each following selector's request number replaced by the slot it got.
    private func withFollowSlots(_ config: vigil_hook_config, _ registry: FollowSlots) throws(BPFError) -> vigil_hook_config {
        guard !plan.follows.isEmpty else { return config }
        var slots: [Int] = []
        for binaries in plan.follows {
            let slot = try registry.acquire(binaries)
            slots.append(slot)
            followSlots.append(slot)
        }
        var config = config
        for i in 0..<Int(config.nselectors) {
            modifyElement(&config.selectors, i, as: vigil_selector.self) { sel in
                let request = Int(sel.follow & VIGIL_FOLLOW_ID_MASK)
                guard request > 0 else { return }
                sel.follow = (sel.follow & VIGIL_FOLLOW_NOT_IN) | UInt32(slots[request - 1] + 1)
            }
        }
        return config
    }

    /// Attaches the program where the plan says. Idempotent.
    public func attach() throws(EngineError) {
        guard link == nil && chained == nil else { return }
        guard let program else {
            throw .kernel(hook: plan.hookName, error: BPFError(operation: "attach", subject: "a hook detached before (load it anew)", errno: 22))
        }
        do throws(BPFError) {
            switch (plan.flavour, plan.attach) {
            case (.ioUringComplete, _), (.ioUringSubmit, _):
                // run by the dispatcher's chain, never attached itself (IOUringDispatch)
                guard let ioUring else { throw BPFError(operation: "attach", subject: "\(plan.hookName): no io_uring dispatcher", errno: 22) }
                try ioUring.register(ObjectIdentifier(self), plan: plan, program: program)
                chained = ioUring
            case (.tracepoint, .tracepoint(let s, let e)), (.syscallExit, .tracepoint(let s, let e)):
                link = try program.attachTracepoint(category: s, name: e)
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
            try releaseObject()
        } catch {
            throw .kernel(hook: plan.hookName, error: error)
        }
    }

    /// Keeps the descriptors the attached hook still needs and closes the libbpf object.
    private func releaseObject() throws(BPFError) {
        fileIDs = try fileIDs?.independentCopy()
        stats = try stats?.independentCopy()
        programStats = try program?.independentCopy()
        program = nil
        companion = nil
        object = nil
    }

    public func detach() {
        chained?.unregister(ObjectIdentifier(self))
        chained = nil
        link?.close()
        link = nil
        companionLink?.close()
        companionLink = nil
    }

    public var isAttached: Bool { link != nil || chained != nil }

    /// Pins the hook's links in `directory` (bpffs) so the program keeps running without this
    /// process: named `<prefix>` and `<prefix>.companion`.
    public func pin(in directory: String, prefix: String) throws(BPFError) {
        try link?.pin(at: "\(directory)/\(prefix)")
        try chained?.pin(in: directory)
        try companionLink?.pin(at: "\(directory)/\(prefix).companion")
    }

    /// Resolves the files the hook's filters name to their current identities and adds new
    /// ones to the kernel's set (a file replaced since load has a new inode); takes out the
    /// identities of files no name reaches any more. Returns how many were added. Identities
    /// beyond the plan's capacity are left out (logged by the caller).
    @discardableResult
    public func refreshIdentities() throws(BPFError) -> Int {
        guard let map = fileIDs, !plan.identities.sets.isEmpty else { return 0 }
        // out of the map first, then the descriptor closed: the number is free only after
        for id in heldIdentities.nameless() {
            try map.delete(vigil_file_id(set: id.set, dev: id.device, ino: id.inode))
            heldIdentities.release(id)
        }
        var added = 0
        for (id, fd) in plan.identities.resolveHeld(isHeld: heldIdentities.contains) {
            guard heldIdentities.count < plan.identities.capacity else {
                if fd >= 0 { close(fd) }
                continue
            }
            try map.update(vigil_file_id(set: id.set, dev: id.device, ino: id.inode), UInt8(1))
            heldIdentities.hold(id, fd: fd)
            added += 1
        }
        return added
    }

    deinit {
        detach()
        for slot in followSlots { followRegistry.release(slot) }
    }

    /// Records this hook could not queue (ring buffer full), summed over CPUs.
    public func lost() -> UInt64 { statSum(VIGIL_STAT_LOST) }

    private func statSum(_ i: UInt32) -> UInt64 {
        guard let map = stats else { return 0 }
        let perCPU = (try? map.lookupPerCPU(key: bytes(of: i))) ?? nil
        return (perCPU ?? []).reduce(0) { $0 + $1.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }
    }

    /// The hook's counters (VIGIL_STAT_*), summed over CPUs.
    public func counters() -> HookCounters {
        guard let map = stats else { return HookCounters() }
        func sum(_ i: UInt32) -> UInt64 {
            let perCPU = (try? map.lookupPerCPU(key: bytes(of: i))) ?? nil
            return (perCPU ?? []).reduce(0) { $0 + $1.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } }
        }
        var c = HookCounters(runs: sum(VIGIL_STAT_RUNS), posted: sum(VIGIL_STAT_POSTED), actions: sum(VIGIL_STAT_ACTIONS), lost: sum(VIGIL_STAT_LOST))
        if plan.resolvesFiles { c.resolves = sum(VIGIL_STAT_RESOLVES) }
        // per selector only where an action was taken at all (one map read per selector)
        if c.actions > 0 {
            c.selectorActions = (0..<UInt32(plan.config.nselectors)).map { sum(VIGIL_STAT_SELECTOR_ACTIONS + $0) }
        }
        if let s = try? (programStats?.runStats() ?? program?.runStats()), s.runCount > 0 { c.nsPerRun = s.runTimeNs / s.runCount }
        return c
    }
}

/// Per-hook counters, from the kernel.
public struct HookCounters: Sendable, Equatable, Codable {
    public var runs: UInt64 = 0
    public var posted: UInt64 = 0
    public var actions: UInt64 = 0
    public var lost: UInt64 = 0
    /// Calls that resolved a file to its global path (the dentry walk); the others were decided
    /// before it, by the cheaper filters and the file's own name. nil: the hook reads no file.
    public var resolves: UInt64? = nil
    /// `actions` by selector (index in the hook's selectors); nil while none was taken.
    public var selectorActions: [UInt64]? = nil
    /// The kernel's average run time of the hook's program (kernel.bpf_stats_enabled=1 only).
    public var nsPerRun: UInt64? = nil
}

private func withLength(_ v: vigil_string_value, _ len: UInt32) -> vigil_string_value {
    var v = v
    v.len = len
    return v
}

func bytes<T: BitwiseCopyable>(of value: T) -> [UInt8] { withUnsafeBytes(of: value) { [UInt8]($0) } }
