import EventJSON
import Export
import Foundation
import Sensors
import PolicyYAML

/// `vigil agent --config FILE`: the same settings as the flags, as YAML keys named like the
/// flags (`export-file: /var/log/vigil.json`). Errors carry FILE:LINE:COL.
public enum AgentConfigFile {
    public static let keys = ["node-name", "export-stdout", "export-file", "export-file-max-size", "export-file-max-backups",
                              "export-file-compress", "export-allowlist", "export-denylist", "field-filters", "enable-ancestors", "disable-network-sensor", "enable-process-cred", "enable-process-ns",
                              "rb-size", "process-cache-size", "policy-dir", "netpolicy-dir", "endpoints", "accept-hook", "disable-datapath"]

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Applies the file's settings onto `config`.
    public static func apply(path: String, to config: inout AgentConfiguration) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure(description: "\(path):1:1: error: cannot read the config file (missing or not readable)")
        }
        let docs: [(root: YAMLNode?, start: SourceMark)]
        do { docs = try YAMLReader().documents([UInt8](data)) } catch {
            throw Failure(description: "\(path):\(error.mark): error: \(error.message)")
        }
        guard let root = docs.first?.root else { return }
        guard case .mapping(let pairs) = root.value else {
            throw Failure(description: "\(path):\(root.mark): error: the config is a mapping of setting: value")
        }
        for (k, v) in pairs {
            guard let key = k.scalar, keys.contains(key) else {
                let name = k.scalar ?? "?"
                let near = keys.min { a, b in a.commonPrefix(with: name).count > b.commonPrefix(with: name).count } ?? ""
                throw Failure(description: "\(path):\(k.mark): error: unknown setting \"\(name)\" (did you mean \"\(near)\"?); settings: \(keys.joined(separator: ", "))")
            }
            guard let text = v.scalar else {
                throw Failure(description: "\(path):\(v.mark): error: \(key) takes a single value")
            }
            func fail(_ why: String) -> Failure { Failure(description: "\(path):\(v.mark): error: \(key): \(why)") }
            switch key {
            case "node-name": config.nodeName = text
            case "export-stdout": config.exportStdout = try bool(text) ?? { throw fail("expected true or false") }()
            case "export-file": config.exportFile = text
            case "export-file-max-size": config.exportFileMaxBytes = try byteSize(text) ?? { throw fail("expected a size like 10M, 64K or 1048576") }()
            case "export-file-max-backups": config.exportFileBackups = try Int(text) ?? { throw fail("expected a number") }()
            case "export-file-compress": config.exportFileCompress = try bool(text) ?? { throw fail("expected true or false") }()
            case "export-allowlist": do { config.filters.allow = try ExportFilter.list(text) } catch { throw fail("\(error)") }
            case "export-denylist": do { config.filters.deny = try ExportFilter.list(text) } catch { throw fail("\(error)") }
            case "field-filters": do { config.fieldFilters = try fieldFilters(text) } catch { throw fail("\(error)") }
            case "enable-ancestors": config.enableAncestors = try bool(text) ?? { throw fail("expected true or false") }()
            case "disable-network-sensor": config.networkSensor = !(try bool(text) ?? { throw fail("expected true or false") }())
            case "enable-process-cred": config.enableProcessCred = try bool(text) ?? { throw fail("expected true or false") }()
            case "enable-process-ns": config.enableProcessNS = try bool(text) ?? { throw fail("expected true or false") }()
            case "rb-size": config.ringBufferBytes = try byteSize(text) ?? { throw fail("expected a size like 8M") }()
            case "process-cache-size": config.processCacheSize = try Int(text) ?? { throw fail("expected a number") }()
            case "policy-dir": config.policyDirectory = text
            case "netpolicy-dir": config.netPolicyDirectory = text
            case "endpoints": config.endpointsFile = text
            case "accept-hook": config.acceptHook = try AcceptHook(rawValue: text) ?? { throw fail("expected one of \(AcceptHook.allCases.map(\.rawValue).joined(separator: ", "))") }()
            case "disable-datapath": config.datapath = !(try bool(text) ?? { throw fail("expected true or false") }())
            default: break
            }
        }
    }

    static func bool(_ s: String) -> Bool? { ["true", "yes", "on", "1"].contains(s) ? true : ["false", "no", "off", "0"].contains(s) ? false : nil }

    /// `10M`, `64K`, `1G`, or plain bytes.
    public static func byteSize(_ s: String) -> Int? {
        let scale: Int
        var digits = Substring(s.uppercased())
        switch digits.last {
        case "K": scale = 1024; digits = digits.dropLast()
        case "M": scale = 1024 * 1024; digits = digits.dropLast()
        case "G": scale = 1024 * 1024 * 1024; digits = digits.dropLast()
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
            return FieldFilter(eventSet: Set(o["event_set"] as? [String] ?? []), fields: fields.split(separator: ",").map(String.init), action: action)
        }
    }
}
