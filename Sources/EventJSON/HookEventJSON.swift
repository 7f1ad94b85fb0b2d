import AgentCore
import Foundation
import PolicyModel

/// `process_kprobe`, `process_tracepoint`, `process_lsm` and `process_uprobe`: a policy hook
/// matched a posting selector.
extension HookEvent: ExportedEvent {
    public static var eventTypes: [String] { ["PROCESS_KPROBE", "PROCESS_TRACEPOINT", "PROCESS_LSM", "PROCESS_UPROBE"] }
    public static var isTetragonKind: Bool { true }
    public var eventType: String {
        switch family {
        case .kprobe: "PROCESS_KPROBE"
        case .tracepoint: "PROCESS_TRACEPOINT"
        case .lsm: "PROCESS_LSM"
        case .uprobe: "PROCESS_UPROBE"
        }
    }
    public var jsonName: String { family.rawValue }
    public var subjectProcess: ProcessEntry? { process }
    public var subjectParent: ProcessEntry? { parent }
    public var eventTimeNs: UInt64 { timeNs }
    public func fill(_ body: EventBody) { body.encoder.fillHook(self, into: body.object) }
}

/// The hook bodies, with keys in the order of Tetragon's protobuf field numbers (its JSON
/// export writes them in that order).
extension EventEncoder {
    func fillHook(_ h: HookEvent, into body: JSONObject) {
        body.set("process", processObject(h.process))
        if let parent = h.parent { body.set("parent", processObject(parent)) }
        switch h.family {
        case .kprobe:
            body.set("function_name", h.functionName)
            body.set("args", argList(h.args))
            if let r = h.returnValue { body.set("return", argObject(r)) }
            body.set("action", h.action)
            body.set("policy_name", h.policyName)
            if h.returnValue != nil { body.set("return_action", h.action) }
            if let m = h.message { body.set("message", m) }
            if !h.tags.isEmpty { body.set("tags", stringList(h.tags)) }
        case .tracepoint:
            body.set("subsys", h.subsystem)
            body.set("event", h.event)
            body.set("args", argList(h.args))
            body.set("policy_name", h.policyName)
            body.set("action", h.action)
            if let m = h.message { body.set("message", m) }
            if !h.tags.isEmpty { body.set("tags", stringList(h.tags)) }
        case .lsm:
            body.set("function_name", h.functionName)
            body.set("policy_name", h.policyName)
            if let m = h.message { body.set("message", m) }
            body.set("args", argList(h.args))
            body.set("action", h.action)
            if !h.tags.isEmpty { body.set("tags", stringList(h.tags)) }
        case .uprobe:
            body.set("path", h.path)
            if h.offset == nil { body.set("symbol", h.functionName) }
            body.set("policy_name", h.policyName)
            if let m = h.message { body.set("message", m) }
            body.set("args", argList(h.args))
            if !h.tags.isEmpty { body.set("tags", stringList(h.tags)) }
            if let o = h.offset { body.set("offset", o) }
            body.set("action", h.action)
        }
    }

    private func stringList(_ values: [String]) -> JSONObject {
        let list = JSONObject.array()
        for v in values { list.append(v) }
        return list
    }

    private func argList(_ args: [HookArgument]) -> JSONObject {
        let list = JSONObject.array()
        for a in args { list.append(argObject(a)) }
        return list
    }

    private func argObject(_ a: HookArgument) -> JSONObject {
        let o = JSONObject.object()
        switch a.value {
        case .int(let v): o.set("int_arg", JSONObject.int(v))
        case .uint(let v): o.set("uint_arg", v)
        case .size(let v): o.set("size_arg", v)
        case .long(let v): o.set("long_arg", JSONObject.int(v))
        case .capability(let v): o.set("capability_arg", JSONObject.int(v))
        case .string(let s): o.set("string_arg", s)
        case .bytes(let b, let truncated, let size):
            let text = Data(b).base64EncodedString()
            if truncated {
                let t = JSONObject.object()
                t.set("bytes_arg", text)
                t.set("orig_size", size)
                o.set("truncated_bytes_arg", t)
            } else {
                o.set("bytes_arg", text)
            }
        case .file(let path, let perm), .path(let path, let perm), .linuxBinprm(let path, let perm):
            let f = JSONObject.object()
            f.set("path", path)
            if !perm.isEmpty { f.set("permission", perm) }
            let key: StaticString
            switch a.value {
            case .path: key = "path_arg"
            case .linuxBinprm: key = "linux_binprm_arg"
            default: key = "file_arg"
            }
            o.set(key, f)
        case .sock(let s):
            let k = JSONObject.object()
            k.set("family", s.family)
            k.set("type", s.type)
            k.set("protocol", s.proto)
            k.set("saddr", s.saddr)
            k.set("daddr", s.daddr)
            k.set("sport", UInt32(s.sport))
            k.set("dport", UInt32(s.dport))
            if !s.state.isEmpty { k.set("state", s.state) }
            o.set("sock_arg", k)
        case .sockaddr(let family, let address, let port):
            let k = JSONObject.object()
            k.set("family", family)
            k.set("addr", address)
            k.set("port", UInt32(port))
            o.set("sockaddr_arg", k)
        case .sockaddrUn(let family, let path):
            let k = JSONObject.object()
            k.set("family", family)
            k.set("path", path)
            o.set("sockaddrun_arg", k)
        case .credentials(let c):
            let k = JSONObject.object()
            for (name, v) in [
                ("uid" as StaticString, c.uid), ("gid", c.gid), ("euid", c.euid), ("egid", c.egid), ("suid", c.suid), ("sgid", c.sgid), ("fsuid", c.fsuid),
                ("fsgid", c.fsgid),
            ] {
                k.set(name, v)
            }
            let caps = JSONObject.object()
            for (name, mask) in [("permitted" as StaticString, c.capPermitted), ("effective", c.capEffective), ("inheritable", c.capInheritable)]
            where mask != 0 {
                let list = JSONObject.array()
                for cap in CapabilityName.allCases where mask & (1 << UInt64(cap.bit)) != 0 { list.append(cap.eventName) }
                caps.set(name, list)
            }
            k.set("caps", caps)
            o.set("process_credentials_arg", k)
        case .skb(let s, let len):
            let k = JSONObject.object()
            k.set("len", len)
            k.set("saddr", s.saddr)
            k.set("daddr", s.daddr)
            k.set("sport", UInt32(s.sport))
            k.set("dport", UInt32(s.dport))
            k.set("protocol", s.proto)
            k.set("family", s.family)
            o.set("skb_arg", k)
        case .userNamespace(let level, let uid, let gid, let inum):
            let k = JSONObject.object()
            k.set("level", level)
            k.set("uid", uid)
            k.set("gid", gid)
            let ns = JSONObject.object()
            ns.set("inum", inum)
            if inum != 0 && inum == hostNamespaces.user { ns.set("is_host", true) }
            k.set("ns", ns)
            o.set("user_ns_arg", k)
        case .netDevice(let name):
            let k = JSONObject.object()
            k.set("name", name)
            o.set("net_dev_arg", k)
        case .module(let name):
            let k = JSONObject.object()
            k.set("name", name)
            o.set("module_arg", k)
        case .unreadable(let why):
            o.set("error", why)
        }
        if let l = a.label { o.set("label", l) }
        return o
    }
}
