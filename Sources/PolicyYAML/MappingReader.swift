import Foundation
import PolicyModel

/// Reads one YAML mapping against a fixed set of keys: unknown keys are reported (with a
/// suggestion) as soon as the reader is made, and every accessor reports wrong types at
/// the value's position. Accessors return nil after reporting, so decoding continues and
/// all errors of a file come out in one run.
struct MappingReader {
    let diagnostics: Diagnostics
    let node: YAMLNode
    let path: String
    private var entries: [String: (key: YAMLNode, value: YAMLNode)] = [:]
    /// Keys offered as "did you mean": their absence is already explained by the typo.
    private var suggested: Set<String> = []

    /// nil (after reporting) when `node` is not a mapping.
    init?(_ node: YAMLNode, path: String, keys known: [String], _ diagnostics: Diagnostics) {
        self.diagnostics = diagnostics
        self.node = node
        self.path = path
        if diagnostics.positions[path] == nil { diagnostics.positions[path] = node.mark }
        guard case .mapping(let pairs) = node.value else {
            diagnostics.error(node.mark, path, "expected a mapping with keys \(Self.list(known)), found \(node.kindDescription)")
            return nil
        }
        for (k, v) in pairs {
            guard let name = k.scalar else {
                diagnostics.error(k.mark, path, "keys must be plain strings, found \(k.kindDescription)")
                continue
            }
            if known.contains(name) {
                entries[name] = (k, v)
                diagnostics.positions[Self.join(path, name)] = v.mark
            } else {
                if let s = Suggest.closest(to: name, in: known) { suggested.insert(s) }
                diagnostics.error(
                    k.mark, Self.join(path, name),
                    "unknown key \"\(name)\"\(Suggest.hint(name, known)); accepted here: \(Self.list(known))")
            }
        }
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
    static func list(_ words: [String]) -> String { words.joined(separator: ", ") }

    func sub(_ key: String) -> String { Self.join(path, key) }

    /// The value node, nil when absent or null.
    func value(_ key: String) -> YAMLNode? {
        guard let v = entries[key]?.value, !v.isNull else { return nil }
        return v
    }

    func has(_ key: String) -> Bool { value(key) != nil }

    /// Reports a missing required key at the mapping's position.
    func missing(_ key: String, _ what: String) {
        if suggested.contains(key) { return }
        diagnostics.error(node.mark, sub(key), "required key \"\(key)\" is missing: \(what)")
    }

    func string(_ key: String, required what: String? = nil) -> String? {
        guard let v = value(key) else {
            if let what { missing(key, what) }
            return nil
        }
        guard let s = v.scalar else {
            diagnostics.error(v.mark, sub(key), "expected a string, found \(v.kindDescription)")
            return nil
        }
        return s
    }

    func bool(_ key: String) -> Bool? {
        guard let v = value(key) else { return nil }
        return Scalars.bool(v, sub(key), diagnostics)
    }

    func uint32(_ key: String, required what: String? = nil) -> UInt32? {
        guard let v = value(key) else {
            if let what { missing(key, what) }
            return nil
        }
        return Scalars.integer(v, sub(key), diagnostics, in: 0...Int64(UInt32.max)).map { UInt32($0) }
    }

    func int32(_ key: String) -> Int32? {
        guard let v = value(key) else { return nil }
        return Scalars.integer(v, sub(key), diagnostics, in: Int64(Int32.min)...Int64(Int32.max)).map { Int32($0) }
    }

    func int64(_ key: String) -> Int64? {
        guard let v = value(key) else { return nil }
        return Scalars.integer(v, sub(key), diagnostics, in: Int64.min...Int64.max)
    }

    /// An enum value; unknown spellings are reported with the accepted ones.
    func enumeration<E: PolicyEnum>(_ key: String, _ type: E.Type, required what: String? = nil) -> E? {
        guard let v = value(key) else {
            if let what { missing(key, what) }
            return nil
        }
        return Scalars.enumeration(v, sub(key), diagnostics, type)
    }

    /// The items of a list value, each with its path; reports non-lists.
    func items(_ key: String, required what: String? = nil) -> [(node: YAMLNode, path: String)] {
        guard let v = value(key) else {
            if let what { missing(key, what) }
            return []
        }
        guard case .sequence(let list) = v.value else {
            diagnostics.error(v.mark, sub(key), "expected a list, found \(v.kindDescription)")
            return []
        }
        return list.enumerated().map { i, item in
            let p = "\(sub(key))[\(i)]"
            diagnostics.positions[p] = item.mark
            return (item, p)
        }
    }

    /// A list of scalars as strings, each with its position and path (`values[2]`).
    func strings(_ key: String, required what: String? = nil) -> [(value: String, mark: SourceMark, path: String)] {
        items(key, required: what).compactMap { item in
            guard let s = item.node.scalar, !item.node.isNull else {
                diagnostics.error(item.node.mark, item.path, "expected a string, found \(item.node.kindDescription)")
                return nil
            }
            return (s, item.node.mark, item.path)
        }
    }

    /// Mark of a key's value (or of the mapping when absent), for cross-field messages.
    func mark(_ key: String) -> SourceMark { entries[key]?.value.mark ?? node.mark }
    func keyMark(_ key: String) -> SourceMark { entries[key]?.key.mark ?? node.mark }

    /// Pairs of a mapping-valued key (for free-form maps like labels).
    func pairs(_ key: String) -> [(key: YAMLNode, value: YAMLNode)] {
        guard let v = value(key) else { return [] }
        guard case .mapping(let p) = v.value else {
            diagnostics.error(v.mark, sub(key), "expected a mapping, found \(v.kindDescription)")
            return []
        }
        return p
    }
}

/// Scalar conversions with Kubernetes' YAML rules (YAML 1.1 booleans; ints in decimal,
/// 0x hex, 0o/leading-0 octal). Quoted scalars are strings: a quoted "true" is not a bool.
enum Scalars {
    static func bool(_ v: YAMLNode, _ path: String, _ d: Diagnostics) -> Bool? {
        if case .scalar(let s, .plain) = v.value {
            switch s {
            case "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON": return true
            case "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF": return false
            default: break
            }
        }
        let quoted = { if case .scalar(_, .quoted) = v.value { return true } else { return false } }()
        d.error(
            v.mark, path,
            "expected true or false, found \(v.scalar.map { "\"\($0)\"" } ?? v.kindDescription)"
                + (quoted ? " (a quoted value is a string: remove the quotes)" : ""))
        return nil
    }

    static func parseInteger(_ text: String) -> Int64? { PolicyValues.integer(text) }

    static func integer(_ v: YAMLNode, _ path: String, _ d: Diagnostics, in range: ClosedRange<Int64>) -> Int64? {
        guard case .scalar(let s, let style) = v.value else {
            d.error(v.mark, path, "expected an integer, found \(v.kindDescription)")
            return nil
        }
        guard style == .plain, let n = parseInteger(s) else {
            d.error(
                v.mark, path,
                "expected an integer, found \"\(s)\"" + (style == .quoted && parseInteger(s) != nil ? " (a quoted value is a string: remove the quotes)" : ""))
            return nil
        }
        guard range.contains(n) else {
            d.error(v.mark, path, "\(n) is out of range \(range.lowerBound)...\(range.upperBound)")
            return nil
        }
        return n
    }

    static func enumeration<E: PolicyEnum>(_ v: YAMLNode, _ path: String, _ d: Diagnostics, _ type: E.Type) -> E? {
        guard let s = v.scalar, !v.isNull else {
            d.error(v.mark, path, "expected one of \(E.spellings.joined(separator: ", ")), found \(v.kindDescription)")
            return nil
        }
        if let e = E(rawValue: s) { return e }
        d.error(v.mark, path, "unknown value \"\(s)\"\(Suggest.hint(s, E.spellings)); accepted: \(E.spellings.joined(separator: ", "))")
        return nil
    }
}
