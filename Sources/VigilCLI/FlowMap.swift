import Foundation

/// The service map of `vigil flows --map`: identities as nodes, connections as edges coloured
/// by verdict (forwarded green, dropped red, audit orange and dashed), labelled with protocol,
/// port, how many connections and the programs behind them. Written as Graphviz dot and drawn
/// by Debian's `dot` into SVG or PNG.
struct FlowMap {
    struct Node: Hashable {
        var identity: String
        var title: String
        var members: Set<String> = []
    }

    struct EdgeKey: Hashable, Comparable {
        var source: String
        var destination: String
        var port: String
        var verdict: String
        static func < (a: EdgeKey, b: EdgeKey) -> Bool { (a.source, a.destination, a.port, a.verdict) < (b.source, b.destination, b.port, b.verdict) }
    }

    private var nodes: [String: Node] = [:]
    /// one connection (its 5-tuple) seen at both ends counts once, with its worse verdict
    private var connections: [String: (key: EdgeKey, programs: Set<String>)] = [:]

    static let severity = ["FORWARDED": 0, "AUDIT": 1, "DROPPED": 2]

    mutating func add(_ flow: [String: Any]) {
        guard flow["is_reply"] as? Bool != true, flow["flow_type"] as? String != "CLOSE", let verdict = flow["verdict"] as? String,
            let src = flow["source"] as? [String: Any], let dst = flow["destination"] as? [String: Any], let ip = flow["IP"] as? [String: Any],
            let l4 = (flow["l4"] as? [String: Any])?.first
        else { return }
        let ports = l4.value as? [String: Any] ?? [:]
        let s = node(src)
        let d = node(dst)
        let tuple = "\(ip["source"] ?? "") \(ports["source_port"] ?? "") \(ip["destination"] ?? "") \(ports["destination_port"] ?? "") \(l4.key)"
        let dport = (ports["destination_port"] as? NSNumber)?.intValue ?? 0
        let port = dport == 0 ? "proto \(l4.key)" : "\(l4.key)/\(dport)"
        var key = EdgeKey(source: s, destination: d, port: port, verdict: verdict)
        var programs = connections[tuple]?.programs ?? []
        if let binary = (flow["process"] as? [String: Any])?["binary"] as? String { programs.insert((binary as NSString).lastPathComponent) }
        if let old = connections[tuple]?.key, Self.severity[old.verdict] ?? 0 > Self.severity[verdict] ?? 0 { key = old }
        connections[tuple] = (key, programs)
    }

    private mutating func node(_ e: [String: Any]) -> String {
        let identity = "\(e["identity"] ?? "?")"
        let labels = (e["labels"] as? [String] ?? []).filter { !$0.contains("io.kubernetes.pod.namespace") }
        // identity 0: a packet the datapath does not judge (IPv6 into an enforcing endpoint)
        let title =
            labels.isEmpty
            ? (identity == "0" ? "not judged (IPv6)" : "no labels")
            : labels.map { $0.replacingOccurrences(of: "k8s:", with: "") }.joined(separator: " ")
        var n = nodes[identity] ?? Node(identity: identity, title: title)
        if let name = e["pod_name"] as? String { n.members.insert("\(e["namespace"] as? String ?? "default")/\(name)") }
        nodes[identity] = n
        return identity
    }

    var isEmpty: Bool { connections.isEmpty }

    /// Graphviz dot text.
    var dot: String {
        var edges: [EdgeKey: (count: Int, programs: Set<String>)] = [:]
        for (_, c) in connections {
            edges[c.key, default: (0, [])].count += 1
            edges[c.key]!.programs.formUnion(c.programs)
        }
        var out = "digraph flows {\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fillcolor=\"#eef3fb\", fontname=\"Helvetica\"];\n"
        out += "  edge [fontname=\"Helvetica\", fontsize=10];\n"
        for n in nodes.values.sorted(by: { $0.identity < $1.identity }) {
            let members = n.members.sorted().prefix(5).joined(separator: "\\n")
            out +=
                "  \"\(Self.escape(n.identity))\" [label=\"\(Self.escape(n.title))\\nidentity \(Self.escape(n.identity))\(members.isEmpty ? "" : "\\n" + members)\"];\n"
        }
        for (k, v) in edges.sorted(by: { $0.key < $1.key }) {
            let (color, style) =
                switch k.verdict {
                case "DROPPED": ("#c0392b", "bold")
                case "AUDIT": ("#e67e22", "dashed")
                default: ("#27ae60", "solid")
                }
            let programs = v.programs.sorted().prefix(3).joined(separator: ", ")
            let label = "\(k.port) x\(v.count) \(k.verdict.lowercased())\(programs.isEmpty ? "" : "\\n" + programs)"
            out +=
                "  \"\(Self.escape(k.source))\" -> \"\(Self.escape(k.destination))\" [color=\"\(color)\", fontcolor=\"\(color)\", style=\(style), label=\"\(Self.escape(label))\"];\n"
        }
        return out + "}\n"
    }

    static func escape(_ s: String) -> String { s.replacingOccurrences(of: "\"", with: "\\\"") }

    /// Writes the map: `.dot` as is, `.svg` / `.png` drawn by Graphviz's dot.
    func write(to path: String) throws -> String? {
        let ext = (path as NSString).pathExtension.lowercased()
        if ext == "dot" || ext == "gv" {
            try dot.write(toFile: path, atomically: true, encoding: .utf8)
            return nil
        }
        guard ext == "svg" || ext == "png" else { return "--map \(path): name a .svg, .png or .dot file" }
        guard let tool = ["/usr/bin/dot", "/usr/local/bin/dot"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return "--map: Graphviz's dot is not installed (apt-get install graphviz), or write a .dot file"
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = ["-T\(ext)", "-o", path]
        let input = Pipe()
        let err = Pipe()
        p.standardInput = input
        p.standardError = err
        try p.run()
        input.fileHandleForWriting.write(Data(dot.utf8))
        try input.fileHandleForWriting.close()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return p.terminationStatus == 0 ? nil : "--map: dot failed (\(p.terminationStatus)): \(message)"
    }
}
