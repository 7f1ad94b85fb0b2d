/// Drops (and audit-mode would-be drops) of the datapath summarised per pattern: one
/// `flow_summary` record per (verdict, direction, source identity, destination identity,
/// protocol, port, reason, rule) and interval, with how many drop reports it stands for and the
/// first and last time, so an alert pipeline gets one record per pattern instead of one per
/// flow. (The kernel already reports a dropped flow at most once a second.)
public struct FlowSummary: Sendable, Equatable {
    public var verdict: String
    public var direction: String
    public var source: FlowEvent.Endpoint
    public var destination: FlowEvent.Endpoint
    public var proto: String
    public var port: UInt16
    public var dropReason: UInt32
    public var dropReasonName: String?
    public var policyRule: String?
    /// drop reports (flows, or a flow's drops a second apart) in the interval
    public var count: UInt64
    /// distinct source addresses in the interval
    public var sources: Int
    /// the programs behind the flows, when known (at most a few)
    public var binaries: [String]
    public var firstNs: UInt64
    public var lastNs: UInt64
    public var intervalSeconds: UInt32
}

public struct FlowSummarizer: Sendable {
    struct Key: Hashable {
        var verdict: String
        var direction: String
        var sourceIdentity: UInt32
        var destinationIdentity: UInt32
        var proto: String
        var port: UInt16
        var reason: UInt32
        var rule: String?
    }

    struct Pattern {
        var summary: FlowSummary
        var sourceAddresses: Set<String>
    }

    public let intervalSeconds: UInt32
    private var patterns: [Key: Pattern] = [:]
    /// Patterns kept per interval; past it, new patterns are counted in `overflow` only.
    public static let capacity = 4096
    public private(set) var overflow: UInt64 = 0

    public init(intervalSeconds: UInt32) { self.intervalSeconds = intervalSeconds }

    public mutating func observe(_ f: FlowEvent) {
        guard f.kind == .drop || f.kind == .audit else { return }
        let key = Key(
            verdict: f.verdict, direction: f.direction, sourceIdentity: f.source.identity, destinationIdentity: f.destination.identity, proto: f.proto,
            port: f.destination.port, reason: f.dropReason, rule: f.policyRule)
        if var p = patterns[key] {
            p.summary.count += 1
            p.summary.lastNs = max(p.summary.lastNs, f.timeNs)
            p.summary.firstNs = min(p.summary.firstNs, f.timeNs)
            if p.sourceAddresses.count < 1024 { p.sourceAddresses.insert(f.source.address) }
            if let b = f.process?.binary, p.summary.binaries.count < 4, !p.summary.binaries.contains(b) { p.summary.binaries.append(b) }
            patterns[key] = p
            return
        }
        guard patterns.count < Self.capacity else {
            overflow += 1
            return
        }
        // the pattern is by identity: one flow's source port would mislead (the JSON leaves
        // addresses out too and counts the sources instead)
        var source = f.source
        source.port = 0
        let destination = f.destination
        patterns[key] = Pattern(
            summary: FlowSummary(
                verdict: f.verdict, direction: f.direction, source: source, destination: destination, proto: f.proto, port: f.destination.port,
                dropReason: f.dropReason, dropReasonName: f.dropReasonName, policyRule: f.policyRule, count: 1, sources: 1,
                binaries: f.process.map { [$0.binary] } ?? [], firstNs: f.timeNs, lastNs: f.timeNs, intervalSeconds: intervalSeconds),
            sourceAddresses: [f.source.address])
    }

    /// The interval's summaries, most frequent first; starts the next interval.
    public mutating func flush() -> [FlowSummary] {
        let out = patterns.values.map { p -> FlowSummary in
            var s = p.summary
            s.sources = p.sourceAddresses.count
            return s
        }.sorted { ($0.count, $1.firstNs) > ($1.count, $0.firstNs) }
        patterns.removeAll(keepingCapacity: true)
        return out
    }
}
