/// A name or pattern of a `toFQDNs` rule, in the form the kernel looks DNS answers up by
/// (bpf/progs/datapath.bpf.c, maps fqdn_names and fqdn_label_patterns): lowercase, without the
/// trailing dot, and one of a full name, `*.` + a suffix (the `*` stands for exactly one label,
/// as in Cilium), a first label with one `*` inside it + a suffix (`api-*.example.com`: the `*`
/// stands for any label characters, never a dot, as in Cilium), or `*` (every name).
public struct FQDNSelector: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The kernel's lookup key: `api.example.com`, `*.example.com` or `*`.
    public let key: String

    /// The longest name the kernel compares (VIGIL_FQDN_NAME_MAX - 1).
    public static let maxLength = 127
    /// The longest text before, and after, a `*` inside a first label (VIGIL_FQDN_AFFIX_MAX;
    /// DatapathKernel checks the two agree).
    public static let affixMaxLength = 32

    private init(key: String) { self.key = key }

    /// Every name (`matchPattern: "*"`).
    public static let everyName = FQDNSelector(key: "*")

    /// `matchName` (`pattern` false) or `matchPattern` text; the reason it cannot be enforced
    /// exactly as written otherwise.
    public static func parse(_ text: String, pattern: Bool) -> Result<FQDNSelector, Reason> {
        var name = text.lowercased()
        if name.hasSuffix(".") && name.count > 1 { name.removeLast() }
        if name.isEmpty { return .failure(.init("an empty name matches nothing: write a name such as api.example.com")) }
        if pattern && name == "*" { return .success(.everyName) }
        if name.count > maxLength {
            return .failure(.init("\"\(text)\" is \(name.count) characters; the datapath compares names of up to \(maxLength)"))
        }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        for (i, label) in labels.enumerated() {
            if label.isEmpty { return .failure(.init("\"\(text)\" has an empty label (two dots, or a leading dot)")) }
            if label.count > 63 { return .failure(.init("label \"\(label)\" of \"\(text)\" is longer than DNS allows (63)")) }
            if label.contains("*") {
                guard pattern else {
                    return .failure(.init("matchName takes a name, not a pattern: use matchPattern for \"\(text)\""))
                }
                guard i == 0, labels.count > 1, label.filter({ $0 == "*" }).count == 1 else {
                    return .failure(
                        .init(
                            "\"\(text)\": the datapath matches a wildcard in the first label only (\"*.example.com\", \"api-*.example.com\": one `*` there) or alone (\"*\"); write those, or list the names with matchName"
                        ))
                }
                let affixes = label.split(separator: "*", omittingEmptySubsequences: false)
                if let long = affixes.first(where: { $0.utf8.count > Int(Self.affixMaxLength) }) {
                    return .failure(.init("\"\(text)\": \"\(long)\" around the `*` is longer than the \(Self.affixMaxLength) characters the datapath compares"))
                }
                if let bad = label.first(where: { $0 != "*" && !($0.isLetter && $0.isASCII || $0.isNumber && $0.isASCII || $0 == "-" || $0 == "_") }) {
                    return .failure(.init("\"\(text)\" contains \"\(bad)\"; a DNS name has letters, digits, '-' and '_' between dots"))
                }
                continue
            }
            if let bad = label.first(where: { !($0.isLetter && $0.isASCII || $0.isNumber && $0.isASCII || $0 == "-" || $0 == "_") }) {
                return .failure(.init("\"\(text)\" contains \"\(bad)\"; a DNS name has letters, digits, '-' and '_' between dots"))
            }
        }
        return .success(FQDNSelector(key: name))
    }

    public struct Reason: Error, Equatable, Sendable {
        public let text: String
        init(_ text: String) { self.text = text }
    }

    /// Whether `name` (an answered question) is selected: the user-space twin of the kernel's lookup.
    public func matches(_ name: String) -> Bool {
        var n = name.lowercased()
        if n.hasSuffix(".") { n.removeLast() }
        if key == "*" { return true }
        if key.hasPrefix("*.") {
            guard let dot = n.firstIndex(of: "."), dot != n.startIndex else { return false }
            return "*" + n[dot...] == key
        }
        if let p = labelPattern {
            guard let dot = n.firstIndex(of: "."), String(n[dot...]) == p.rest else { return false }
            let label = n[..<dot]
            return label.utf8.count >= p.prefix.utf8.count + p.suffix.utf8.count && label.hasPrefix(p.prefix) && label.hasSuffix(p.suffix)
        }
        return n == key
    }

    /// A pattern with `*` inside its first label (`api-*.example.com`): what the label starts
    /// and ends with, and the rest of the name from its first dot (".example.com").
    public var labelPattern: (prefix: String, suffix: String, rest: String)? {
        guard key != "*", !key.hasPrefix("*."), let dot = key.firstIndex(of: "."), let star = key[..<dot].firstIndex(of: "*") else { return nil }
        return (String(key[..<star]), String(key[key.index(after: star)..<dot]), String(key[dot...]))
    }

    public var isPattern: Bool { key.contains("*") }
    public var description: String { key }
    public static func < (a: FQDNSelector, b: FQDNSelector) -> Bool { a.key < b.key }
}
