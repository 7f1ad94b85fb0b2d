/// A process image started (or was found running at agent start, flagged procFS).
public struct ProcessExecEvent: Sendable, Equatable {
    public var process: ProcessEntry
    public var parent: ProcessEntry?
    /// The ancestors above the parent (Tetragon's `ancestors`), when the agent is asked for them.
    public var ancestors: [ProcessEntry]
    public var timeNs: UInt64
    public init(process: ProcessEntry, parent: ProcessEntry?, ancestors: [ProcessEntry], timeNs: UInt64) {
        self.process = process
        self.parent = parent
        self.ancestors = ancestors
        self.timeNs = timeNs
    }
}

/// A process ended: its exit status, or the signal that killed it.
public struct ProcessExitEvent: Sendable, Equatable {
    public var process: ProcessEntry
    public var parent: ProcessEntry?
    public var status: UInt32
    public var signal: UInt32
    public var timeNs: UInt64
    public init(process: ProcessEntry, parent: ProcessEntry?, status: UInt32, signal: UInt32, timeNs: UInt64) {
        self.process = process
        self.parent = parent
        self.status = status
        self.signal = signal
        self.timeNs = timeNs
    }
}

/// The kernel (or the agent's own queues) could not keep some records: counts since the last
/// report, by kind.
public struct LostEventsReport: Sendable, Equatable {
    public var counts: [String: UInt64]
    public var total: UInt64
    public var timeNs: UInt64
    public init(counts: [String: UInt64], total: UInt64, timeNs: UInt64) {
        self.counts = counts
        self.total = total
        self.timeNs = timeNs
    }
}
