/// What the agent exports, one JSON line each.
public enum AgentEvent: Sendable, Equatable {
    /// A process image started (or was found running at agent start, flagged procFS).
    case exec(process: ProcessEntry, parent: ProcessEntry?, ancestors: [ProcessEntry], timeNs: UInt64)
    /// A process ended: exit status, or the signal that killed it.
    case exit(process: ProcessEntry, parent: ProcessEntry?, status: UInt32, signal: UInt32, timeNs: UInt64)
    /// The kernel could not queue some records: counts since the last report, by kind.
    case lostEvents(counts: [String: UInt64], total: UInt64, timeNs: UInt64)
    /// A policy hook matched a posting selector.
    case hook(HookEvent)
    /// The network sensor: connect, accept, close, UDP peer.
    case network(NetworkEvent)
    /// The network sensor: a DNS query or response.
    case dns(DNSEvent)
    /// The identity-aware datapath: a new flow, a drop or a close, with the process behind it.
    case flow(FlowEvent)
    /// A detection made from several kernel facts (a download piped to a shell).
    case detection(DetectionEvent)
    /// The datapath's drops (and audits) of one interval, one record per pattern.
    case flowSummary(FlowSummary)

    /// Every name `eventType` gives, and Tetragon's names Vigil does not emit (a filter may
    /// name them; they match nothing): what an export filter's event_set accepts.
    public static let eventTypeNames: [String] =
        [
            "PROCESS_EXEC", "PROCESS_EXIT", "PROCESS_KPROBE", "PROCESS_TRACEPOINT", "PROCESS_LSM", "PROCESS_UPROBE", "PROCESS_CONNECT",
            "PROCESS_ACCEPT", "PROCESS_CLOSE", "PROCESS_SCAN", "PROCESS_DNS", "FLOW", "FLOW_SUMMARY", "LOST_EVENTS",
            "PROCESS_LOADER", "PROCESS_THROTTLE", "PROCESS_USDT", "RATE_LIMIT_INFO",
        ] + DetectionEvent.kinds.map { $0.uppercased() }

    /// Tetragon's event-set name (PROCESS_EXEC, ...), for export filters.
    public var eventType: String {
        switch self {
        case .exec: "PROCESS_EXEC"
        case .exit: "PROCESS_EXIT"
        case .lostEvents: "LOST_EVENTS"
        case .hook(let h):
            switch h.family {
            case .kprobe: "PROCESS_KPROBE"
            case .tracepoint: "PROCESS_TRACEPOINT"
            case .lsm: "PROCESS_LSM"
            case .uprobe: "PROCESS_UPROBE"
            }
        case .network(let n): n.kind.eventType
        case .dns: "PROCESS_DNS"
        case .flow: "FLOW"
        case .flowSummary: "FLOW_SUMMARY"
        case .detection(let d): d.name.uppercased()
        }
    }

    /// Whether Tetragon's API has a message for this kind (GetEventsResponse's oneof): the
    /// others are Vigil's own and stay out of a Tetragon-compatible stream.
    public var isTetragonKind: Bool {
        switch self {
        case .exec, .exit, .hook: true
        case .network, .dns, .flow, .flowSummary, .detection, .lostEvents: false
        }
    }

    /// The process the event is about.
    public var process: ProcessEntry? {
        switch self {
        case .exec(let p, _, _, _), .exit(let p, _, _, _, _): p
        case .hook(let h): h.process
        case .network(let n): n.process
        case .dns(let d): d.process
        case .flow(let f): f.process
        case .detection(let d): d.process
        case .lostEvents, .flowSummary: nil
        }
    }

    public var parent: ProcessEntry? {
        switch self {
        case .exec(_, let p, _, _), .exit(_, let p, _, _, _): p
        case .hook(let h): h.parent
        case .network(let n): n.parent
        case .dns(let d): d.parent
        case .flow(let f): f.parent
        case .detection(let d): d.parent
        case .lostEvents, .flowSummary: nil
        }
    }
}
