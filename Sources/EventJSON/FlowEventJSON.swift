import AgentCore

extension FlowEvent: ExportedEvent {
    public static var eventTypes: [String] { ["FLOW"] }
    public var eventType: String { "FLOW" }
    public var jsonName: String { "flow" }
    public var subjectProcess: ProcessEntry? { process }
    public var subjectParent: ProcessEntry? { parent }
    public var eventTimeNs: UInt64 { timeNs }
    public func fill(_ body: EventBody) { body.encoder.fillFlow(self, into: body.object) }
}

/// One record per drop pattern and interval; its time is the pattern's last drop.
extension FlowSummary: ExportedEvent {
    public static var eventTypes: [String] { ["FLOW_SUMMARY"] }
    public var eventType: String { "FLOW_SUMMARY" }
    public var jsonName: String { "flow_summary" }
    public var subjectProcess: ProcessEntry? { nil }
    public var subjectParent: ProcessEntry? { nil }
    public var eventTimeNs: UInt64 { lastNs }
    public func fill(_ body: EventBody) { body.encoder.fillFlowSummary(self, into: body.object) }
}

/// `flow` bodies in Hubble's shape (verdict, drop_reason_desc, IP, l4, source / destination
/// with identity and labels, traffic_direction), plus what Hubble cannot say: the `process`
/// (and parent) that opened the flow, in Tetragon's process shape, and the rule that decided.
extension EventEncoder {
    func fillFlow(_ f: FlowEvent, into body: JSONObject) {
        body.set("time", eventTime(f.timeNs))
        body.set("verdict", f.verdict)
        if let reason = f.dropReasonName {
            body.set("drop_reason", f.dropReason)
            body.set("drop_reason_desc", reason)
        }
        body.set("flow_type", f.kind.rawValue)
        let ip = JSONObject.object()
        ip.set("source", f.source.address)
        ip.set("destination", f.destination.address)
        ip.set("ipVersion", f.source.address.contains(":") ? "IPv6" : "IPv4")
        body.set("IP", ip)
        let l4 = JSONObject.object()
        let ports = JSONObject.object()
        ports.set("source_port", UInt32(f.source.port))
        ports.set("destination_port", UInt32(f.destination.port))
        if f.proto == "TCP" {
            let flags = JSONObject.object()
            for name in f.tcpFlagNames { flags.set(named: name, .bool(true)) }
            ports.set("flags", flags)
        }
        l4.set(named: f.proto, ports)
        body.set("l4", l4)
        body.set("source", flowEndpoint(f.source))
        body.set("destination", flowEndpoint(f.destination))
        for (key, names) in [("source_names", f.sourceNames), ("destination_names", f.destinationNames)] where !names.isEmpty {
            let list = JSONObject.array()
            for n in names { list.append(n) }
            body.set(named: key, list)
        }
        body.set("Type", "L3_L4")
        body.set("node_name", nodeName)
        body.set("traffic_direction", f.direction)
        body.set("is_reply", f.isReply)
        if let rule = f.policyRule {
            let list = JSONObject.array()
            list.append(rule)
            // the rule is of the flow's own direction: a reply travels the other way
            let ingress = (f.direction == "INGRESS") != f.isReply
            let key: StaticString =
                f.kind == .drop || f.kind == .audit
                ? (ingress ? "ingress_denied_by" : "egress_denied_by") : (ingress ? "ingress_allowed_by" : "egress_allowed_by")
            body.set(key, list)
        }
        if f.kind == .close {
            body.set("packets", f.packets)
            body.set("bytes", f.bytes)
        }
        if let p = f.process { body.set("process", processObject(p)) }
        if let parent = f.parent { body.set("parent", processObject(parent)) }
        body.set("Summary", f.proto == "TCP" ? "TCP Flags: " + f.tcpFlagNames.joined(separator: ", ") : f.proto)
    }

    /// `flow_summary`: one drop (or audit) pattern of an interval, by identity.
    func fillFlowSummary(_ s: FlowSummary, into body: JSONObject) {
        body.set("verdict", s.verdict)
        body.set("drop_reason", s.dropReason)
        if let reason = s.dropReasonName { body.set("drop_reason_desc", reason) }
        body.set("traffic_direction", s.direction)
        body.set("source", flowEndpoint(s.source))
        body.set("destination", flowEndpoint(s.destination))
        body.set("protocol", s.proto)
        body.set("destination_port", UInt32(s.port))
        if let rule = s.policyRule {
            let list = JSONObject.array()
            list.append(rule)
            body.set("denied_by", list)
        }
        body.set("count", s.count)
        body.set("sources", UInt32(s.sources))
        if !s.binaries.isEmpty {
            let list = JSONObject.array()
            for b in s.binaries { list.append(b) }
            body.set("binaries", list)
        }
        body.set("first_time", eventTime(s.firstNs))
        body.set("last_time", eventTime(s.lastNs))
        body.set("interval_seconds", s.intervalSeconds)
    }

    private func flowEndpoint(_ e: FlowEvent.Endpoint) -> JSONObject {
        let o = JSONObject.object()
        if let id = e.endpointID { o.set("ID", id) }
        o.set("identity", e.identity)
        if let ns = e.namespace { o.set("namespace", ns) }
        if let name = e.name { o.set("pod_name", name) }
        let labels = JSONObject.array()
        for l in e.labels { labels.append(l) }
        o.set("labels", labels)
        return o
    }
}
