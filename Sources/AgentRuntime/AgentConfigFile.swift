import AgentCore
import EventJSON
import Export
import Foundation
import PolicyYAML
import Sensors

/// Value syntaxes shared by the agent's settings (AgentOptions): sizes and field filters.
public enum AgentConfigFile {
    static func bool(_ s: String) -> Bool? { ["true", "yes", "on", "1"].contains(s) ? true : ["false", "no", "off", "0"].contains(s) ? false : nil }

    /// `10M`, `64K`, `1G`, or plain bytes.
    public static func byteSize(_ s: String) -> Int? {
        let scale: Int
        var digits = Substring(s.uppercased())
        switch digits.last {
        case "K":
            scale = 1024
            digits = digits.dropLast()
        case "M":
            scale = 1024 * 1024
            digits = digits.dropLast()
        case "G":
            scale = 1024 * 1024 * 1024
            digits = digits.dropLast()
        default: scale = 1
        }
        guard let n = Int(digits), n > 0 else { return nil }
        return n * scale
    }

    /// Tetragon's field filter lines: {"event_set":[...],"fields":"a.b,c","action":"INCLUDE|EXCLUDE"}.
    public static func fieldFilters(_ text: String) throws -> [FieldFilter] {
        try text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map { line in
            guard let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let fields = o["fields"] as? String
            else { throw FilterError("a field filter is {\"fields\":\"process.cwd,parent\",\"action\":\"EXCLUDE\"}: \(line)") }
            let action = FieldFilter.Action(rawValue: (o["action"] as? String ?? "INCLUDE").uppercased())
            guard let action else { throw FilterError("action is INCLUDE or EXCLUDE") }
            let eventSet = Set(o["event_set"] as? [String] ?? [])
            for name in eventSet where !AgentEvent.eventTypeNames.contains(name) {
                throw FilterError("event_set: unknown event type \"\(name)\"; one of \(AgentEvent.eventTypeNames.joined(separator: ", "))")
            }
            return FieldFilter(eventSet: eventSet, fields: fields.split(separator: ",").map(String.init), action: action)
        }
    }
}
