import AgentCore

/// Detections made in user space (`process_pipeline`, `process_reverse_shell`, ...): each
/// name is its own event type, upper-cased for export filters.
extension DetectionEvent: ExportedEvent {
    public static var eventTypes: [String] { kinds.map { $0.uppercased() } }
    public var eventType: String { name.uppercased() }
    public var jsonName: String { name }
    public var subjectProcess: ProcessEntry? { process }
    public var subjectParent: ProcessEntry? { parent }
    public var eventTimeNs: UInt64 { timeNs }
    public var exportCounter: String { "DETECTION" }

    public func fill(_ body: EventBody) {
        let e = body.encoder
        body.object.set("process", e.processObject(process))
        if let parent { body.object.set("parent", e.processObject(parent)) }
        if let source { body.object.set("source", e.processObject(source)) }
        body.object.set("detection", detection)
        body.object.set("message", message)
        let list = JSONObject.array()
        for t in tags { list.append(t) }
        body.object.set("tags", list)
    }
}
