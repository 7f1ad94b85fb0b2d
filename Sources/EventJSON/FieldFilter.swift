/// Tetragon's `--field-filters`: keep only, or drop, some fields of some event types.
/// Paths are relative to the event body, e.g. `process.cwd`, `parent`, `process.cap`.
public struct FieldFilter: Sendable, Equatable {
    public enum Action: String, Sendable {
        case include = "INCLUDE"
        case exclude = "EXCLUDE"
    }
    /// Event types it applies to (PROCESS_EXEC, ...); empty means all.
    public var eventSet: Set<String>
    public var fields: [[String]]
    public var action: Action

    public init(eventSet: Set<String> = [], fields: [String], action: Action) {
        self.eventSet = eventSet
        self.fields = fields.map { $0.split(separator: ".").map(String.init) }
        self.action = action
    }

    func apply(to body: JSONObject, eventType: String) {
        guard eventSet.isEmpty || eventSet.contains(eventType) else { return }
        switch action {
        case .exclude:
            for path in fields { Self.remove(path[...], from: body) }
        case .include:
            Self.keep(fields.map { $0[...] }, in: body)
        }
    }

    private static func remove(_ path: ArraySlice<String>, from node: JSONObject) {
        guard let first = path.first else { return }
        if path.count == 1 {
            node.remove(first)
            return
        }
        if let child = node.child(first) { remove(path.dropFirst(), from: child) }
    }

    /// Keeps keys named by `paths` (a path ending at a key keeps its whole subtree).
    private static func keep(_ paths: [ArraySlice<String>], in node: JSONObject) {
        for key in node.keys {
            let matching = paths.filter { $0.first == key }
            if matching.isEmpty {
                node.remove(key)
            } else if !matching.contains(where: { $0.count == 1 }), let child = node.child(key) {
                keep(matching.map { $0.dropFirst() }, in: child)
            }
        }
    }
}
