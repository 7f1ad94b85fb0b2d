import AgentCore
import EventJSON
import Foundation

/// Tetragon's export filters (`--export-allowlist` / `--export-denylist`): each filter is a
/// JSON object whose fields are ANDed; a list of filters is ORed. Supported fields:
/// event_set, binary_regex, parent_binary_regex, arguments_regex, pid, pid_set, namespace,
/// policy_names.
public struct ExportFilter: Sendable {
    public var eventSet: Set<String> = []
    public var binaryRegex: [String] = []
    public var parentBinaryRegex: [String] = []
    public var argumentsRegex: [String] = []
    /// The process's pid is one of these.
    public var pid: Set<UInt32> = []
    /// The process or one of its ancestors has one of these pids.
    public var pidSet: Set<UInt32> = []
    /// Kubernetes namespaces: Vigil has no pod metadata yet, so a filter naming namespaces
    /// matches host processes only when it lists "" (the empty namespace).
    public var namespace: [String] = []
    /// The event was posted by one of these policies (events of no policy never match).
    public var policyNames: Set<String> = []

    private var compiled: [String: NSRegularExpression] = [:]

    public static let fieldNames = ["event_set", "binary_regex", "parent_binary_regex", "arguments_regex", "pid", "pid_set", "namespace", "policy_names"]

    /// Parses one filter object, e.g. `{"event_set":["PROCESS_EXEC"],"binary_regex":["^/usr/bin/"]}`.
    public init(json: String) throws {
        guard let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw FilterError("a filter is a JSON object, e.g. {\"event_set\":[\"PROCESS_EXEC\"]}: \(json)")
        }
        for (key, value) in object {
            switch key {
            case "event_set":
                eventSet = Set(try Self.strings(value, key))
                for name in eventSet where !AgentEvent.eventTypeNames.contains(name) {
                    throw FilterError("event_set: unknown event type \"\(name)\"; one of \(AgentEvent.eventTypeNames.joined(separator: ", "))")
                }
            case "binary_regex": binaryRegex = try Self.strings(value, key)
            case "parent_binary_regex": parentBinaryRegex = try Self.strings(value, key)
            case "arguments_regex": argumentsRegex = try Self.strings(value, key)
            case "pid": pid = Set(try Self.numbers(value, key))
            case "pid_set": pidSet = Set(try Self.numbers(value, key))
            case "namespace": namespace = try Self.strings(value, key)
            case "policy_names": policyNames = Set(try Self.strings(value, key))
            default:
                let hint =
                    Self.fieldNames.min { a, b in a.commonPrefix(with: key).count > b.commonPrefix(with: key).count }.map { " (did you mean \"\($0)\"?)" } ?? ""
                throw FilterError("unknown filter field \"\(key)\"\(hint); supported: \(Self.fieldNames.joined(separator: ", "))")
            }
        }
        for pattern in binaryRegex + parentBinaryRegex + argumentsRegex {
            do { compiled[pattern] = try NSRegularExpression(pattern: pattern) } catch {
                throw FilterError("invalid regular expression \"\(pattern)\"")
            }
        }
    }

    /// Parses newline-separated filter objects (Tetragon's format), skipping blank lines.
    public static func list(_ text: String) throws -> [ExportFilter] {
        try text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map { try ExportFilter(json: $0) }
    }

    private func matches(_ patterns: [String], _ text: String?) -> Bool {
        guard let text else { return false }
        let range = NSRange(text.startIndex..., in: text)
        return patterns.contains { compiled[$0]?.firstMatch(in: text, range: range) != nil }
    }

    /// Whether `event` passes this filter. `ancestorPIDs` is called only by a pid_set filter
    /// (walking the ancestor chain costs a cache walk per event).
    public func matches(_ event: AgentEvent, ancestorPIDs: () -> [UInt32] = { [] }) -> Bool { matches(event.kind, ancestorPIDs: ancestorPIDs) }

    public func matches(_ event: some ExportedEvent, ancestorPIDs: () -> [UInt32] = { [] }) -> Bool {
        if !eventSet.isEmpty && !eventSet.contains(event.eventType) { return false }
        let p = event.subjectProcess
        if !binaryRegex.isEmpty && !matches(binaryRegex, p?.binary) { return false }
        if !parentBinaryRegex.isEmpty && !matches(parentBinaryRegex, event.subjectParent?.binary) { return false }
        if !argumentsRegex.isEmpty && !matches(argumentsRegex, p?.arguments) { return false }
        if !pid.isEmpty && !(p.map { pid.contains($0.pid) } ?? false) { return false }
        if !pidSet.isEmpty {
            let direct = [p?.pid, event.subjectParent?.pid].compactMap { $0 }
            if !direct.contains(where: pidSet.contains) && !ancestorPIDs().contains(where: pidSet.contains) { return false }
        }
        if !namespace.isEmpty && !namespace.contains("") { return false }
        if !policyNames.isEmpty {
            guard let h = event as? HookEvent, policyNames.contains(h.policyName) else { return false }
        }
        return true
    }

    private static func strings(_ v: Any, _ key: String) throws -> [String] {
        guard let a = v as? [String] else { throw FilterError("\(key) is a list of strings") }
        return a
    }

    private static func numbers(_ v: Any, _ key: String) throws -> [UInt32] {
        guard let a = v as? [NSNumber] else { throw FilterError("\(key) is a list of numbers") }
        return a.map { $0.uint32Value }
    }
}

/// A bad filter, with what to do about it.
public struct FilterError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Allow and deny lists together: an event is exported when it matches some allow filter
/// (or there are none) and no deny filter.
public struct ExportFilters: Sendable {
    public var allow: [ExportFilter]
    public var deny: [ExportFilter]
    public init(allow: [ExportFilter] = [], deny: [ExportFilter] = []) {
        self.allow = allow
        self.deny = deny
    }

    public func admits(_ event: AgentEvent, ancestorPIDs: () -> [UInt32] = { [] }) -> Bool { admits(event.kind, ancestorPIDs: ancestorPIDs) }

    public func admits<K: ExportedEvent>(_ event: K, ancestorPIDs: () -> [UInt32] = { [] }) -> Bool {
        if allow.isEmpty && deny.isEmpty { return true }
        if K.passesEveryFilter { return true }  // loss reports are never filtered out
        if !allow.isEmpty && !allow.contains(where: { $0.matches(event, ancestorPIDs: ancestorPIDs) }) { return false }
        return !deny.contains { $0.matches(event, ancestorPIDs: ancestorPIDs) }
    }
}
