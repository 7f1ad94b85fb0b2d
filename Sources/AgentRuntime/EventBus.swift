import EventJSON
import Export
import Synchronization

/// Live subscribers to the agent's events (the API's GetEvents streams), beside the export.
///
/// The drain thread never waits on a subscriber: each has its own bounded queue of encoded
/// batches, and a batch that does not fit is dropped and counted against that subscriber
/// alone. The export sinks are not subscribers: they keep their backpressure.
public final class EventBus: Sendable {
    private let subscribers = Mutex<[EventSubscription]>([])
    /// Bumped on every change, so the drain thread re-reads the list only when it changed.
    private let generation = Atomic<Int>(0)
    /// Drops of subscribers that have left (their own count goes with them).
    private let departedDrops = Atomic<UInt64>(0)

    public init() {}

    /// A new subscriber. `filters` and `fieldFilters` are Tetragon's (as the export's);
    /// `tetragonKindsOnly` leaves out the event kinds Tetragon's API has no message for.
    public func subscribe(
        filters: ExportFilters, fieldFilters: [FieldFilter], tetragonKindsOnly: Bool, capacityBytes: Int = 16 << 20
    ) -> EventSubscription {
        let s = EventSubscription(filters: filters, fieldFilters: fieldFilters, tetragonKindsOnly: tetragonKindsOnly, capacityBytes: capacityBytes)
        subscribers.withLock { $0.append(s) }
        generation.add(1, ordering: .releasing)
        return s
    }

    /// Ends a subscription: its queue is closed and the drain thread forgets it.
    public func unsubscribe(_ s: EventSubscription) {
        s.close()
        let removed = subscribers.withLock { list in
            let before = list.count
            list.removeAll { $0 === s }
            return before != list.count
        }
        if removed { departedDrops.add(s.dropped, ordering: .relaxed) }
        generation.add(1, ordering: .releasing)
    }

    /// The agent stops: every stream ends after what it has queued.
    public func closeAll() {
        for s in snapshot() { s.close() }
    }

    public var count: Int { subscribers.withLock { $0.count } }

    var currentGeneration: Int { generation.load(ordering: .acquiring) }

    func snapshot() -> [EventSubscription] { subscribers.withLock { $0 } }

    /// Every subscriber's drops so far (for status and metrics).
    public var droppedTotal: UInt64 {
        subscribers.withLock { $0.reduce(0) { $0 + $1.dropped } } + departedDrops.load(ordering: .relaxed)
    }
}

/// One subscriber's queue: batches of whole JSON lines, handed over by the drain thread.
public final class EventSubscription: Sendable {
    public let filters: ExportFilters
    public let fieldFilters: [FieldFilter]
    public let tetragonKindsOnly: Bool
    let capacityBytes: Int

    private struct State {
        var batches: [[UInt8]] = []
        var bytes = 0
        var dropped: UInt64 = 0
        var closed = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    init(filters: ExportFilters, fieldFilters: [FieldFilter], tetragonKindsOnly: Bool, capacityBytes: Int) {
        self.filters = filters
        self.fieldFilters = fieldFilters
        self.tetragonKindsOnly = tetragonKindsOnly
        self.capacityBytes = capacityBytes
    }

    /// Events this subscriber lost because it read too slowly.
    public var dropped: UInt64 { state.withLock { $0.dropped } }

    /// From the drain thread: `lines` whole lines, or counted as dropped when the queue is full.
    func deliver(_ batch: [UInt8], lines: Int) {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { s in
            guard !s.closed else { return nil }
            if s.bytes + batch.count > capacityBytes {
                s.dropped += UInt64(lines)
                return nil
            }
            s.batches.append(batch)
            s.bytes += batch.count
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    /// The next batch of lines and the drops so far; nil once closed and empty.
    public func next() async -> (lines: [UInt8], dropped: UInt64)? {
        while true {
            let taken: (lines: [UInt8], dropped: UInt64)?? = state.withLock { s in
                if !s.batches.isEmpty {
                    let b = s.batches.removeFirst()
                    s.bytes -= b.count
                    return .some((b, s.dropped))
                }
                return s.closed ? .some(nil) : nil
            }
            if let taken { return taken }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { s in
                    if !s.batches.isEmpty || s.closed { return true }
                    s.waiter = c
                    return false
                }
                if ready { c.resume() }
            }
        }
    }

    /// No more batches; a waiting reader returns nil.
    public func close() {
        let waiter = state.withLock { s in
            s.closed = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }
}
