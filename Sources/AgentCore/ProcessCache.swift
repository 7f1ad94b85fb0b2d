/// The agent's view of every process image on the node, keyed by exec identity.
///
/// Reference counting keeps an entry while anything can still mention it: the process
/// itself while it runs (1) and each child entry naming it as parent (1 each). An entry
/// whose count reaches zero is collected. The cache is bounded: beyond `capacity` the
/// oldest exited entries go first, then the oldest of all, and `evictions` counts them.
public struct ProcessCache: Sendable {
    private struct Slot: Sendable {
        var entry: ProcessEntry
        var refs: Int
        var exited: Bool
        var sequence: UInt64
    }

    private var slots: [ExecIdentity: Slot] = [:]
    /// The current image of each running pid.
    private var byPID: [UInt32: ExecIdentity] = [:]
    private var sequence: UInt64 = 0
    public let capacity: Int
    /// Entries dropped because the cache was full (not because they were done).
    public private(set) var evictions: UInt64 = 0

    public init(capacity: Int = 65536) { self.capacity = capacity }

    public var count: Int { slots.count }

    public func entry(_ id: ExecIdentity) -> ProcessEntry? { slots[id]?.entry }

    /// The current image of `pid`, if it is known to be running.
    public func current(pid: UInt32) -> ProcessEntry? { byPID[pid].flatMap { slots[$0]?.entry } }

    /// The parent entry of `entry`, if known.
    public func parent(of entry: ProcessEntry) -> ProcessEntry? { entry.parent.flatMap { slots[$0]?.entry } }

    /// Up to `limit` ancestors beyond the parent, nearest first.
    public func ancestors(of entry: ProcessEntry, limit: Int = 64) -> [ProcessEntry] {
        var out: [ProcessEntry] = []
        var cur = parent(of: entry)
        while let c = cur, let p = parent(of: c), out.count < limit, p.id != c.id {
            out.append(p)
            cur = p
        }
        return out
    }

    /// Resolves a parent reference from the kernel: an exact identity when the kernel's
    /// table had it, else the current image of the parent pid (e.g. seeded from /proc).
    public func resolveParent(_ id: ExecIdentity) -> ExecIdentity? {
        if slots[id] != nil { return id }
        return byPID[id.pid]
    }

    /// Adds a running process image. A previous image of the same pid (before an exec, or a
    /// clone) is released: the exec replaced it.
    ///
    /// Slots are changed in place through their dictionary index: reading a slot out and
    /// writing it back copied its entry (strings and arrays retained and released) and hashed
    /// the identity twice, at three events per spawn.
    public mutating func insert(_ entry: ProcessEntry) {
        let previous = byPID.updateValue(entry.id, forKey: entry.pid)
        if let previous, previous != entry.id { markExited(previous) }  // byPID already names the new image
        sequence += 1
        if let i = slots.index(forKey: entry.id) {
            slots.values[i].entry = entry
            slots.values[i].exited = false
            slots.values[i].sequence = sequence
        } else {
            slots[entry.id] = Slot(entry: entry, refs: 1, exited: false, sequence: sequence)
            if let p = entry.parent, let i = slots.index(forKey: p) { slots.values[i].refs += 1 }
        }
        evictIfNeeded()
    }

    /// A fork the kernel reported: the clone runs its parent's image until it execs, so it gets
    /// a copy of what is known of that image under its own identity, flagged clone.
    public mutating func recordFork(child: ExecIdentity, kernelParent: ExecIdentity, pid: UInt32, startTimeNs: UInt64) {
        let parentID = resolveParent(kernelParent)
        var clone = parentID.flatMap { entry($0) } ?? ProcessEntry(id: child, parent: nil, binary: "")
        clone.id = child
        clone.pid = pid
        clone.tid = pid
        clone.parent = parentID
        clone.flags = clone.flags.subtracting([.execve, .procFS]).union(.clone)
        clone.startTimeNs = startTimeNs
        insert(clone)
    }

    /// An exec the kernel reported: its parent resolved, flagged clone when it replaces a
    /// fork's image (as Tetragon reports the first exec after a fork; a later exec by the same
    /// process replaces an exec'd image and is not flagged), inserted. Returns the entry as the
    /// cache now holds it.
    public mutating func recordExec(_ entry: ProcessEntry, kernelParent: ExecIdentity) -> ProcessEntry {
        var entry = entry
        entry.parent = resolveParent(kernelParent)
        if let previous = byPID[entry.pid], let i = slots.index(forKey: previous) {
            let flags = slots.values[i].entry.flags
            if flags.contains(.clone) && !flags.contains(.execve) { entry.flags.insert(.clone) }  // a fork's image, not yet exec'd
        }
        insert(entry)
        return entry
    }

    /// Marks the image exited: it stays while children or pending events may mention it.
    public mutating func markExited(_ id: ExecIdentity) {
        guard let i = slots.index(forKey: id), !slots.values[i].exited else { return }
        slots.values[i].exited = true
        if byPID[id.pid] == id { byPID[id.pid] = nil }
        release(id)
    }

    private mutating func release(_ id: ExecIdentity) {
        var id = id
        // iteratively up the parent chain: a long chain of exited ancestors must not recurse deeply
        while let i = slots.index(forKey: id) {
            slots.values[i].refs -= 1
            guard slots.values[i].refs <= 0 else { return }
            let parent = slots.values[i].entry.parent
            slots.remove(at: i)
            guard let parent else { return }
            id = parent
        }
    }

    /// Beyond capacity, drops the oldest exited entries first, then the oldest of all. It
    /// drops an eighth of the capacity at once: choosing victims sorts the whole cache, which
    /// done for every insert on a full cache (a fork bomb, a node with more processes than
    /// the capacity) would cost the agent milliseconds per event.
    private mutating func evictIfNeeded() {
        guard slots.count > capacity else { return }
        let excess = slots.count - capacity + max(capacity / 8, 1) - 1
        let victims = slots.sorted { (a, b) in
            a.value.exited != b.value.exited ? a.value.exited : a.value.sequence < b.value.sequence
        }.prefix(excess)
        for (id, _) in victims {
            slots[id] = nil
            if byPID[id.pid] == id { byPID[id.pid] = nil }
            evictions += 1
        }
    }
}
