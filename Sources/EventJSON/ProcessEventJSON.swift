import AgentCore

extension ProcessExecEvent: ExportedEvent {
    public static var eventTypes: [String] { ["PROCESS_EXEC"] }
    public static var isTetragonKind: Bool { true }
    public var eventType: String { "PROCESS_EXEC" }
    public var jsonName: String { "process_exec" }
    public var subjectProcess: ProcessEntry? { process }
    public var subjectParent: ProcessEntry? { parent }
    public var eventTimeNs: UInt64 { timeNs }

    public func fill(_ body: EventBody) {
        let e = body.encoder
        body.object.set("process", e.processObject(process))
        if let parent { body.object.set("parent", e.processObject(parent)) }
        if !ancestors.isEmpty {
            let list = JSONObject.array()
            for a in ancestors { list.append(e.processObject(a)) }
            body.object.set("ancestors", list)
        }
    }
}

extension ProcessExitEvent: ExportedEvent {
    public static var eventTypes: [String] { ["PROCESS_EXIT"] }
    public static var isTetragonKind: Bool { true }
    public var eventType: String { "PROCESS_EXIT" }
    public var jsonName: String { "process_exit" }
    public var subjectProcess: ProcessEntry? { process }
    public var subjectParent: ProcessEntry? { parent }
    public var eventTimeNs: UInt64 { timeNs }

    public func fill(_ body: EventBody) {
        let e = body.encoder
        body.object.set("process", e.processObject(process))
        if let parent { body.object.set("parent", e.processObject(parent)) }
        if signal != 0 { body.object.set("signal", Signals.name(signal)) }
        if status != 0 { body.object.set("status", status) }
        body.object.set("time", e.eventTime(timeNs))
    }
}

/// `lost_events`: Vigil's own, never filtered out (a filter must not hide that events were lost).
extension LostEventsReport: ExportedEvent {
    public static var eventTypes: [String] { ["LOST_EVENTS"] }
    public static var passesEveryFilter: Bool { true }
    public var eventType: String { "LOST_EVENTS" }
    public var jsonName: String { "lost_events" }
    public var subjectProcess: ProcessEntry? { nil }
    public var subjectParent: ProcessEntry? { nil }
    public var eventTimeNs: UInt64 { timeNs }

    public func fill(_ body: EventBody) {
        for key in counts.keys.sorted() { body.object.set(named: key, .uint(counts[key]!)) }
        body.object.set("total", total)
    }
}
