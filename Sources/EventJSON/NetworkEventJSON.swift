import AgentCore

extension NetworkEvent: ExportedEvent {
    public static var eventTypes: [String] { ["PROCESS_CONNECT", "PROCESS_ACCEPT", "PROCESS_CLOSE", "PROCESS_SCAN"] }
    public var eventType: String { kind.eventType }
    public var jsonName: String { kind.eventName }
    public var subjectProcess: ProcessEntry? { process }
    public var subjectParent: ProcessEntry? { parent }
    public var eventTimeNs: UInt64 { timeNs }
    public var exportCounter: String { "PROCESS_NETWORK" }
    public func fill(_ body: EventBody) { body.encoder.fillNetwork(self, into: body.object) }
}

extension DNSEvent: ExportedEvent {
    public static var eventTypes: [String] { ["PROCESS_DNS"] }
    public var eventType: String { "PROCESS_DNS" }
    public var jsonName: String { "process_dns" }
    public var subjectProcess: ProcessEntry? { process }
    public var subjectParent: ProcessEntry? { parent }
    public var eventTimeNs: UInt64 { timeNs }
    public func fill(_ body: EventBody) { body.encoder.fillDNS(self, into: body.object) }
}

/// `process_connect`, `process_accept`, `process_close` and `process_dns` bodies: the process
/// and parent as in process_exec (same exec_id), then the socket in sock_arg's field names.
extension EventEncoder {
    func fillNetwork(_ n: NetworkEvent, into body: JSONObject) {
        body.set("process", processObject(n.process))
        if let parent = n.parent { body.set("parent", processObject(parent)) }
        body.set("sock", sockObject(n.socket, cookie: n.cookie))
        switch n.kind {
        case .connect: body.set("result", n.failed ? "failed" : "established")
        case .udp: body.set("result", "first_datagram")
        case .accept: break
        case .scan:
            let sc = JSONObject.object()
            sc.set("distinct_destinations", n.bytesSent)
            sc.set("window_ms", n.durationNs / 1_000_000)
            body.set("scan", sc)
        case .close:
            let st = JSONObject.object()
            st.set("bytes_sent", n.bytesSent)
            st.set("bytes_received", n.bytesReceived)
            st.set("duration_ns", n.durationNs)
            body.set("stats", st)
        }
    }

    func fillDNS(_ d: DNSEvent, into body: JSONObject) {
        if let p = d.process { body.set("process", processObject(p)) }
        if let parent = d.parent { body.set("parent", processObject(parent)) }
        body.set("sock", sockObject(d.socket, cookie: d.cookie))
        let k = JSONObject.object()
        k.set("direction", d.direction)
        k.set("id", UInt32(d.id))
        k.set("response", d.isResponse)
        if let q = d.questions.first {
            k.set("query", q.name)
            k.set("qtype", q.type)
        }
        if d.isResponse {
            k.set("rcode", d.rcode)
            let list = JSONObject.array()
            for a in d.answers {
                let o = JSONObject.object()
                o.set("name", a.name)
                o.set("type", a.type)
                o.set("ttl", a.ttl)
                o.set("data", a.data)
                list.append(o)
            }
            k.set("answers", list)
        }
        if d.truncated { k.set("truncated", true) }
        body.set("dns", k)
    }

    func sockObject(_ s: HookArgValue.SocketInfo, cookie: UInt64) -> JSONObject {
        let k = JSONObject.object()
        k.set("family", s.family)
        if !s.type.isEmpty && s.type != "0" { k.set("type", s.type) }
        k.set("protocol", s.proto)
        k.set("saddr", s.saddr)
        k.set("daddr", s.daddr)
        k.set("sport", UInt32(s.sport))
        k.set("dport", UInt32(s.dport))
        k.set("cookie", cookie)
        return k
    }
}
