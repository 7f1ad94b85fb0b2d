import AgentCore
import Foundation
import PolicyModel

/// Turns agent events into Tetragon-shaped JSON lines (`process_exec`, `process_exit`, plus
/// Vigil's `lost_events`), written with json-c. Field names and shapes follow Tetragon's
/// JSON export, so existing pipelines ingest Vigil unchanged.
public final class EventEncoder {
    public let nodeName: String
    private let nodeNameBytes: [UInt8]
    /// The host's namespace inodes (from /proc/1/ns), for `is_host`.
    public let hostNamespaces: Namespaces
    public var fieldFilters: [FieldFilter]
    /// Add `cap` and `process_credentials` (Tetragon's --enable-process-cred).
    public var includeCredentials: Bool
    /// Add `ns` (Tetragon's --enable-process-ns).
    public var includeNamespaces: Bool

    public init(
        nodeName: String, hostNamespaces: Namespaces, fieldFilters: [FieldFilter] = [],
        includeCredentials: Bool = true, includeNamespaces: Bool = true
    ) {
        self.nodeName = nodeName
        nodeNameBytes = Array(nodeName.utf8)
        self.hostNamespaces = hostNamespaces
        self.fieldFilters = fieldFilters
        self.includeCredentials = includeCredentials
        self.includeNamespaces = includeNamespaces
    }

    /// The top-level object, reused by every event: json-c serializes a tree into its root's
    /// print buffer, which starts at 32 bytes and doubles, so a fresh root per event meant
    /// six reallocations and copies for a 1 KB event.
    private let root = JSONObject.object()

    /// Appends one JSON line (with its newline) for `event` to `buffer`.
    public func encode(_ event: AgentEvent, into buffer: inout [UInt8]) { encode(event.kind, into: &buffer) }

    /// The same for an event not boxed as an `AgentEvent` (the agent's path: no allocation
    /// for the box). Specialized for the kinds the drain emits most, so their bodies are
    /// written without witness calls.
    @_specialize(exported:true,where K == HookEvent)
    @_specialize(exported:true,where K == ProcessExecEvent)
    @_specialize(exported:true,where K == ProcessExitEvent)
    @_specialize(exported:true,where K == NetworkEvent)
    @_specialize(exported:true,where K == FlowEvent)
    public func encode<K: ExportedEvent>(_ kind: K, into buffer: inout [UInt8]) {
        let body = JSONObject.object()
        kind.fill(EventBody(object: body, encoder: self))
        let name = kind.jsonName
        let time = kind.eventTimeNs
        for f in fieldFilters { f.apply(to: body, eventType: kind.eventType) }
        root.set(named: name, body)
        root.set("node_name", nodeName)
        root.set("time", eventTime(time))
        root.write(to: &buffer)
        // emptied, not freed: its print buffer keeps the capacity a whole event needed
        root.remove(name)
        root.remove("node_name" as StaticString)
        root.remove("time" as StaticString)
        buffer.append(0x0a)
    }

    /// One event as a String line (tests and tools; the agent uses `encode(_:into:)`).
    public func line(_ event: AgentEvent) -> String {
        var buf: [UInt8] = []
        encode(event, into: &buf)
        return String(decoding: buf, as: UTF8.self)
    }

    /// Process objects already built, shared (json-c reference counts) into later events that
    /// name the same process image and thread: most events repeat a few processes, and the
    /// process object is most of an event's cost. Bounded; off when field filters edit trees.
    private struct ProcessKey: Hashable {
        var ktime: UInt64
        var pid: UInt32
        var tid: UInt32
        var flags: UInt32
        var parentKtime: UInt64
    }
    private var processObjects: [ProcessKey: JSONObject] = [:]
    /// The two entries of `processObjects` used last, newest first (an event's process and
    /// parent; not references of their own).
    private var recentProcessObjects: ((key: ProcessKey, object: JSONObject)?, (key: ProcessKey, object: JSONObject)?) = (nil, nil)
    private func remember(_ key: ProcessKey, _ object: JSONObject) {
        recentProcessObjects = ((key, object), recentProcessObjects.0)
    }
    /// Event times and process start times, each with its own last second (they are of
    /// different seconds for any process older than a second).
    private var eventTimes = TimeFormatter()
    private var startTimes = TimeFormatter()

    /// An event's time (RFC 3339, nanoseconds) as a JSON string.
    func eventTime(_ ns: UInt64) -> JSONObject {
        eventTimes.withText(ns) { JSONObject.string(utf8: $0) }
    }

    static let processObjectCacheSize = 4096

    func processObject(_ p: ProcessEntry) -> JSONObject {
        guard fieldFilters.isEmpty else { return buildProcessObject(p) }
        let key = ProcessKey(ktime: p.id.ktime, pid: p.id.pid, tid: p.tid, flags: p.flags.rawValue, parentKtime: p.parent?.ktime ?? 0)
        // most events name the processes the previous one did: a comparison or two, no hashing
        if let r = recentProcessObjects.0, r.key == key { return r.object.retained() }
        if let r = recentProcessObjects.1, r.key == key { return r.object.retained() }
        if let o = processObjects[key] {
            remember(key, o)
            return o.retained()
        }
        if processObjects.count >= Self.processObjectCacheSize {
            for o in processObjects.values { o.release() }
            processObjects.removeAll(keepingCapacity: true)
            recentProcessObjects = (nil, nil)
        }
        // built once, kept as its JSON text: later events copy the bytes, not walk the tree
        let tree = buildProcessObject(p)
        let o = JSONObject.preserialized(tree.text)
        tree.release()
        processObjects[key] = o.retained()  // the cache's own reference
        remember(key, o)
        return o
    }

    deinit {
        root.release()
        for o in processObjects.values { o.release() }
    }

    private func buildProcessObject(_ p: ProcessEntry) -> JSONObject {
        let o = JSONObject.object()
        o.set("exec_id", execID(p.id))
        o.set("pid", p.pid)
        o.set("uid", p.euid)
        if !p.cwd.isEmpty { o.set("cwd", p.cwd) }
        o.set("binary", p.binary)
        if !p.arguments.isEmpty { o.set("arguments", p.arguments) }
        o.set("flags", p.flags.words)
        o.set("start_time", startTimes.withText(p.startTimeNs) { JSONObject.string(utf8: $0) })
        o.set("auid", p.auid)
        // Key order follows Tetragon's protobuf field numbers (protojson writes them in order).
        if let c = p.containerID { o.set("docker", String(c.prefix(31))) }
        if let parent = p.parent { o.set("parent_exec_id", execID(parent)) }
        if includeCredentials { addCapabilities(p, to: o) }
        if includeNamespaces { addNamespaces(p, to: o) }
        o.set("tid", p.tid)
        if includeCredentials { addCredentials(p, to: o) }
        return o
    }

    private func addCapabilities(_ p: ProcessEntry, to o: JSONObject) {
        let cap = JSONObject.object()
        for (name, mask) in [("permitted" as StaticString, p.caps.permitted), ("effective", p.caps.effective), ("inheritable", p.caps.inheritable)]
        where mask != 0 {
            let list = JSONObject.array()
            for c in CapabilityName.allCases where mask & (1 << UInt64(c.bit)) != 0 { list.append(c.eventName) }
            cap.set(name, list)
        }
        o.set("cap", cap)
    }

    private func addCredentials(_ p: ProcessEntry, to o: JSONObject) {
        let cred = JSONObject.object()
        cred.set("uid", p.uid)
        cred.set("gid", p.gid)
        cred.set("euid", p.euid)
        cred.set("egid", p.egid)
        o.set("process_credentials", cred)
    }

    private func addNamespaces(_ p: ProcessEntry, to o: JSONObject) {
        let ns = JSONObject.object()
        for (i, name) in Namespaces.names.enumerated() where i < p.namespaces.inodes.count && p.namespaces.inodes[i] != 0 {
            let entry = JSONObject.object()
            entry.set("inum", p.namespaces.inodes[i])
            if i < hostNamespaces.inodes.count && p.namespaces.inodes[i] == hostNamespaces.inodes[i] { entry.set("is_host", true) }
            ns.set(named: name, entry)
        }
        o.set("ns", ns)
    }

    private func execID(_ id: ExecIdentity) -> JSONObject {
        nodeNameBytes.withUnsafeBufferPointer { node in id.withExecID(node: node) { JSONObject.string(utf8: $0) } }
    }

    /// RFC 3339 UTC with nanoseconds, as Tetragon prints times.
    public static func rfc3339(_ ns: UInt64) -> String {
        var f = TimeFormatter()
        return f.withText(ns) { String(decoding: $0, as: UTF8.self) }
    }
}

/// Signal names for exit events.
public enum Signals {
    static let names: [UInt32: String] = [
        1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS",
        8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE",
        14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP",
        20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU", 23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ",
        26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS",
    ]
    public static func name(_ n: UInt32) -> String { names[n] ?? "SIG\(n)" }
}
