import AgentCore

/// `process_connect`, `process_accept` and `process_close` bodies: the process and parent
/// as in process_exec (same exec_id), then the socket in sock_arg's field names.
extension EventEncoder {
    func fillNetwork(_ n: NetworkEvent, into body: JSONObject) {
        body.set("process", processObject(n.process))
        if let parent = n.parent { body.set("parent", processObject(parent)) }
        let s = n.socket
        let k = JSONObject.object()
        k.set("family", s.family)
        k.set("type", s.type)
        k.set("protocol", s.proto)
        k.set("saddr", s.saddr)
        k.set("daddr", s.daddr)
        k.set("sport", UInt32(s.sport))
        k.set("dport", UInt32(s.dport))
        k.set("cookie", n.cookie)
        body.set("sock", k)
        switch n.kind {
        case .connect: body.set("result", n.failed ? "failed" : "established")
        case .udp: body.set("result", "first_datagram")
        case .accept: break
        case .close:
            let st = JSONObject.object()
            st.set("bytes_sent", n.bytesSent)
            st.set("bytes_received", n.bytesReceived)
            st.set("duration_ns", n.durationNs)
            body.set("stats", st)
        }
    }
}
