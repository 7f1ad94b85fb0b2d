import AgentCore

/// One kind of exported event: a struct of its own (`HookEvent`, `DNSEvent`, ...) conforming
/// here, in the file that writes its JSON. The conformance is everything the agent needs from
/// a kind: its Tetragon event-set name for export filters, the process it is about, its time,
/// its counter, whether Tetragon's API carries it, and its JSON body. Adding a kind is its
/// struct, its conformance and one line in `AgentEvent.kinds`; nothing switches over kinds.
public protocol ExportedEvent: Sendable, Equatable {
    /// Every `eventType` this kind gives (export filters' event_set accepts these).
    static var eventTypes: [String] { get }
    /// Whether Tetragon's GetEventsResponse has a message for it: the others are Vigil's own
    /// and stay out of a Tetragon-compatible stream.
    static var isTetragonKind: Bool { get }
    /// Reports that no export filter drops (loss reports).
    static var passesEveryFilter: Bool { get }

    /// Tetragon's event-set name (PROCESS_EXEC, ...).
    var eventType: String { get }
    /// The top-level JSON key (`process_exec`, ...).
    var jsonName: String { get }
    /// The process the event is about, and its parent (export filters match these).
    var subjectProcess: ProcessEntry? { get }
    var subjectParent: ProcessEntry? { get }
    /// The event's wall-clock time (the line's `time`).
    var eventTimeNs: UInt64 { get }
    /// The name it is counted under in the agent's exported-by-kind counts.
    var exportCounter: String { get }
    /// Writes the body under `jsonName`, with the encoder's shared process objects.
    func fill(_ body: EventBody)

    func isEqual(to other: any ExportedEvent) -> Bool
}

extension ExportedEvent {
    public static var isTetragonKind: Bool { false }
    public static var passesEveryFilter: Bool { false }
    public var exportCounter: String { eventType }
    public func isEqual(to other: any ExportedEvent) -> Bool { (other as? Self) == self }
}

/// The JSON object a kind fills, with the encoder that owns it (for process objects and
/// times). Opaque outside this module: kinds write their JSON here, beside the encoder.
public struct EventBody {
    let object: JSONObject
    unowned(unsafe) let encoder: EventEncoder
}

/// What the agent exports, one JSON line each: one event of some `ExportedEvent` kind. The
/// kind is boxed once, when the event is made; filters, counters, subscribers and the encoder
/// then ask it through the protocol.
public struct AgentEvent: Sendable, Equatable {
    public let kind: any ExportedEvent

    @inlinable public init(_ kind: consuming some ExportedEvent) { self.kind = kind }

    /// Every kind, in the order its names are listed to users (the one registry of kinds).
    public static let kinds: [any ExportedEvent.Type] = [
        ProcessExecEvent.self, ProcessExitEvent.self, HookEvent.self, NetworkEvent.self, DNSEvent.self, FlowEvent.self,
        FlowSummary.self, LostEventsReport.self, DetectionEvent.self,
    ]

    /// Every name `eventType` gives, and Tetragon's names Vigil does not emit (a filter may
    /// name them; they match nothing): what an export filter's event_set accepts.
    public static let eventTypeNames: [String] =
        kinds.flatMap { $0.eventTypes } + ["PROCESS_LOADER", "PROCESS_THROTTLE", "PROCESS_USDT", "RATE_LIMIT_INFO"]

    public var eventType: String { kind.eventType }
    public var isTetragonKind: Bool { type(of: kind).isTetragonKind }
    public var passesEveryFilter: Bool { type(of: kind).passesEveryFilter }
    public var process: ProcessEntry? { kind.subjectProcess }
    public var parent: ProcessEntry? { kind.subjectParent }

    public static func == (a: AgentEvent, b: AgentEvent) -> Bool { a.kind.isEqual(to: b.kind) }

    // The process events, spelled as the agent and tests make them.
    public static func exec(process: ProcessEntry, parent: ProcessEntry?, ancestors: [ProcessEntry], timeNs: UInt64) -> AgentEvent {
        AgentEvent(ProcessExecEvent(process: process, parent: parent, ancestors: ancestors, timeNs: timeNs))
    }
    public static func exit(process: ProcessEntry, parent: ProcessEntry?, status: UInt32, signal: UInt32, timeNs: UInt64) -> AgentEvent {
        AgentEvent(ProcessExitEvent(process: process, parent: parent, status: status, signal: signal, timeNs: timeNs))
    }
    public static func lostEvents(counts: [String: UInt64], total: UInt64, timeNs: UInt64) -> AgentEvent {
        AgentEvent(LostEventsReport(counts: counts, total: total, timeNs: timeNs))
    }
}
