import Foundation

/// One line per event for people at a terminal (`vigil getevents -o compact`): an icon and
/// the kind, the node, the process, then what happened. Everything that came from a
/// process (names, arguments, paths) is escaped: a file named with terminal escapes cannot
/// repaint the operator's screen.
public struct CompactEventFormat: Sendable {
    public var color: Bool
    public var timestamps: Bool

    public init(color: Bool, timestamps: Bool) {
        self.color = color
        self.timestamps = timestamps
    }

    /// `event`: a GetEventsResponse as protojson with proto field names (as the export writes).
    public func line(_ event: [String: Any]) -> String {
        let kind = event.keys.first { !["node_name", "time", "node_labels", "cluster_name", "aggregation_info"].contains($0) } ?? "?"
        let body = event[kind] as? [String: Any] ?? [:]
        let node = Self.escape(event["node_name"] as? String ?? "")
        let time = timestamps ? (event["time"] as? String).map { Self.escape($0) + " " } ?? "" : ""
        let process = Self.describe(body["process"] as? [String: Any])
        let (icon, label, detail) = Self.what(kind, body)
        let shown = color ? Self.paint(label, kind: kind, action: body["action"] as? String) : label
        return "\(time)\(icon) \(shown) \(node) \(process)\(detail.isEmpty ? "" : " " + detail)"
    }

    static func what(_ kind: String, _ b: [String: Any]) -> (String, String, String) {
        let policy = (b["policy_name"] as? String).map { " [\(escape($0))]" } ?? ""
        switch kind {
        case "process_exec":
            return ("🚀", "process", "")
        case "process_exit":
            let signal = (b["signal"] as? String).map { " " + escape($0) } ?? ""
            return ("💥", "exit   ", "\(b["status"] as? Int ?? 0)\(signal)")
        case "process_kprobe", "process_tracepoint", "process_lsm", "process_uprobe", "process_usdt":
            let hook =
                (b["function_name"] as? String)
                ?? (b["subsys"] as? String).map { "\($0)/\(b["event"] as? String ?? "")" }
                ?? (b["symbol"] as? String) ?? "?"
            let args = ((b["args"] as? [[String: Any]]) ?? []).compactMap(argument).joined(separator: " ")
            let action = b["action"] as? String ?? ""
            let icon = action == "KPROBE_ACTION_SIGKILL" ? "☠️ " : action == "KPROBE_ACTION_OVERRIDE" ? "🚫" : "🔧"
            let verb = action.isEmpty || action == "KPROBE_ACTION_POST" ? "" : " " + action.replacingOccurrences(of: "KPROBE_ACTION_", with: "").lowercased()
            return (icon, String(kind.dropFirst("process_".count)).padding(toLength: 7, withPad: " ", startingAt: 0), "\(escape(hook)) \(args)\(verb)\(policy)")
        case "rate_limit_info":
            return ("⚠️ ", "dropped", "\(b["number_of_dropped_process_events"] ?? 0) events (this client did not keep up)")
        case "process_throttle":
            return ("⏳", "throttle", escape(b["type"] as? String ?? ""))
        default:
            return ("❔", escape(kind), "")
        }
    }

    /// The process as `binary arguments` (pid), or `?`.
    static func describe(_ p: [String: Any]?) -> String {
        guard let p else { return "?" }
        let args = (p["arguments"] as? String).map { " " + escape($0) } ?? ""
        let pid = (p["pid"] as? Int).map { " (\($0))" } ?? ""
        return escape(p["binary"] as? String ?? "?") + args + pid
    }

    /// One argument's value, the way a person reads it: a path, a string, a number, an address.
    static func argument(_ a: [String: Any]) -> String? {
        for key in ["file_arg", "path_arg"] {
            if let f = a[key] as? [String: Any], let path = f["path"] as? String { return escape(path) }
        }
        if let s = a["string_arg"] as? String { return escape(s) }
        if let sock = a["sock_arg"] as? [String: Any] {
            return "\(escape("\(sock["saddr"] ?? "")")):\(sock["sport"] ?? 0) -> \(escape("\(sock["daddr"] ?? "")")):\(sock["dport"] ?? 0)"
        }
        for key in ["int_arg", "long_arg", "uint_arg", "size_arg"] { if let v = a[key] { return "\(v)" } }
        if let l = a["label"] as? String { return escape(l) }
        return nil
    }

    /// Control characters, DEL and backslash as \xNN (C1 controls too): printable text stays.
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for scalar in s.unicodeScalars {
            switch scalar.value {
            case 0x5c: out += "\\\\"
            case 0..<0x20, 0x7f, 0x80..<0xa0: out += String(format: "\\x%02x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func paint(_ label: String, kind: String, action: String?) -> String {
        let code: String
        switch (kind, action) {
        case (_, "KPROBE_ACTION_SIGKILL"?), (_, "KPROBE_ACTION_OVERRIDE"?): code = "31"  // red: the agent acted
        case ("process_exec", _): code = "32"
        case ("process_exit", _): code = "34"
        case ("rate_limit_info", _): code = "33"
        default: code = "35"
        }
        return "\u{1b}[\(code)m\(label)\u{1b}[0m"
    }
}
