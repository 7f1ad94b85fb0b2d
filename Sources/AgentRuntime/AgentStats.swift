import AgentCore
import EventJSON
import Foundation
import NetworkPolicy
import PolicyEngine
import Synchronization

/// What the agent counts, as other threads (metrics, health, the API) read it: a snapshot the
/// drain thread publishes about once a second (and after a policy change), so a scrape never
/// touches the drain thread's state and the hot path never takes a lock per event.
public final class AgentStats: Sendable {
    public struct Snapshot: Sendable {
        /// Events by Tetragon's (or Vigil's) event type name, as exported.
        public var exportedByType: [String: UInt64] = [:]
        /// Records the kernel could not queue (ring buffer full), by record kind.
        public var kernelLostByKind: [String: UInt64] = [:]
        /// Records the agent could not decode.
        public var decodeErrors: UInt64 = 0
        /// Events subscribers lost (their queue was full), summed over subscribers so far.
        public var subscriberDrops: UInt64 = 0
        public var subscribers: Int = 0
        public var exportBytes: UInt64 = 0
        public var exportErrors: UInt64 = 0
        public var processCacheSize: Int = 0
        public var processCacheCapacity: Int = 0
        public var processCacheEvictions: UInt64 = 0
        public var processCacheMisses: UInt64 = 0
        public var policies: [PolicyStatus] = []
        /// Which source owns each policy ("api" or its file).
        public var owners: [String: String] = [:]
        /// Per endpoint and port: who may reach it against who connected in the window.
        public var exposure: [ExposureRow] = []
        /// Kernel tables' entries and capacity (the process table; the datapath's), every 15 s.
        public var maps: [MapOccupancy] = []
        public var updated = Date.distantPast

        public var kernelLostTotal: UInt64 { kernelLostByKind.values.reduce(0, +) }
    }

    private let current = Mutex(Snapshot())

    public init() {}

    public var snapshot: Snapshot { current.withLock { $0 } }
    func publish(_ s: Snapshot) { current.withLock { $0 = s } }
}

/// Fleet mode's counters (the fleet service writes them; metrics read them).
public final class FleetStats: Sendable {
    public struct Snapshot: Sendable, Equatable {
        public var enabled = false
        public var connected = false
        public var outages: UInt64 = 0
        public var relists: UInt64 = 0
        public var applied: UInt64 = 0
        public var failed: UInt64 = 0
    }
    public let enabled = Atomic<Bool>(false)
    public let connected = Atomic<Bool>(false)
    public let outages = Atomic<UInt64>(0)
    /// Watches that found their revision compacted and listed again.
    public let relists = Atomic<UInt64>(0)
    public let applied = Atomic<UInt64>(0)
    public let failed = Atomic<UInt64>(0)

    public init() {}

    public var snapshot: Snapshot {
        Snapshot(
            enabled: enabled.load(ordering: .relaxed), connected: connected.load(ordering: .relaxed), outages: outages.load(ordering: .relaxed),
            relists: relists.load(ordering: .relaxed), applied: applied.load(ordering: .relaxed), failed: failed.load(ordering: .relaxed))
    }
}

/// Exported events by kind, counted on the drain thread without hashing: a kind's counter
/// name is a literal, so the search compares string identities over a dozen slots at most.
struct ExportCounts {
    private(set) var names: [String] = []
    private(set) var counts: [UInt64] = []

    mutating func count(_ e: some ExportedEvent) {
        let name = e.exportCounter
        if let i = names.firstIndex(of: name) {
            counts[i] &+= 1
        } else {
            names.append(name)
            counts.append(1)
        }
    }

    var byName: [String: UInt64] {
        var out: [String: UInt64] = [:]
        for (i, n) in names.enumerated() { out[n] = counts[i] }
        return out
    }
}

/// A kernel map's filling: entries now, and max_entries.
public struct MapOccupancy: Sendable, Equatable {
    public var map: String
    public var entries: Int
    public var capacity: Int
}
