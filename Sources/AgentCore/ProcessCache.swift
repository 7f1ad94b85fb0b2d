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
    public mutating func insert(_ entry: ProcessEntry) {
        if let previous = byPID[entry.pid], previous != entry.id { markExited(previous) }
        sequence += 1
        if let existing = slots[entry.id] {
            slots[entry.id] = Slot(entry: entry, refs: existing.refs, exited: false, sequence: sequence)
        } else {
            slots[entry.id] = Slot(entry: entry, refs: 1, exited: false, sequence: sequence)
            if let p = entry.parent, slots[p] != nil { slots[p]!.refs += 1 }
        }
        byPID[entry.pid] = entry.id
        evictIfNeeded()
    }

    /// Marks the image exited: it stays while children or pending events may mention it.
    public mutating func markExited(_ id: ExecIdentity) {
        guard var slot = slots[id], !slot.exited else { return }
        slot.exited = true
        slots[id] = slot
        if byPID[id.pid] == id { byPID[id.pid] = nil }
        release(id)
    }

    private mutating func release(_ id: ExecIdentity) {
        guard var slot = slots[id] else { return }
        slot.refs -= 1
        if slot.refs > 0 {
            slots[id] = slot
            return
        }
        slots[id] = nil
        if let p = slot.entry.parent { release(p) }
    }

    private mutating func evictIfNeeded() {
        guard slots.count > capacity else { return }
        let excess = slots.count - capacity
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
