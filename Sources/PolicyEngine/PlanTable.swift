import Synchronization

/// The plans of the loaded hooks by hook id, published by the thread that loads policies to
/// the thread that drains the ring buffer. A load takes seconds (the verifier); the drain must
/// not wait for it, so the two share only this table: the loader replaces the whole dictionary
/// under a lock and bumps a version, and each reader keeps its own copy, refreshed when the
/// version moved (one atomic load per record, no lock on the drain).
public final class PlanTable: Sendable {
    private let plans = Mutex<[UInt32: LoadedPlan]>([:])
    private let version = Atomic<UInt64>(0)

    public init() {}

    /// Changes the table (registering before a hook attaches, forgetting after it detaches).
    func update(_ change: (inout [UInt32: LoadedPlan]) -> Void) {
        plans.withLock { table in
            change(&table)
            // inside the lock: a reader that sees this version copies a table at least this new
            version.add(1, ordering: .releasing)
        }
    }

    func plan(_ id: UInt32) -> LoadedPlan? { plans.withLock { $0[id] } }

    /// A reader's view (one per reading thread).
    public func reader() -> PlanReader { PlanReader(table: self) }

    fileprivate func snapshot() -> (UInt64, [UInt32: LoadedPlan]) {
        plans.withLock { (version.load(ordering: .acquiring), $0) }
    }

    fileprivate var currentVersion: UInt64 { version.load(ordering: .acquiring) }

    /// Moves with every change (a policy loaded or unloaded).
    public var changes: UInt64 { version.load(ordering: .acquiring) }
}

/// One thread's copy of a PlanTable.
public struct PlanReader {
    let table: PlanTable
    private var version: UInt64 = .max
    private var plans: [UInt32: LoadedPlan] = [:]

    init(table: PlanTable) { self.table = table }

    /// The plan of hook `id`; nil once its policy was unloaded (its last records are dropped).
    public mutating func plan(_ id: UInt32) -> LoadedPlan? {
        if table.currentVersion != version { (version, plans) = table.snapshot() }
        return plans[id]
    }

    /// Decodes a hook record; nil for an unknown hook (its policy was just unloaded) or a short record.
    public mutating func decode(_ bytes: UnsafeRawBufferPointer) -> (DecodedHookRecord, LoadedPlan)? {
        guard let id = HookRecordDecoder.hookID(bytes), let loaded = plan(id),
            let record = HookRecordDecoder.decode(bytes, plan: loaded.plan)
        else { return nil }
        return (record, loaded)
    }
}
