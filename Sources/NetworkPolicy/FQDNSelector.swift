/// A name or pattern of a `toFQDNs` rule, in the form the kernel looks DNS answers up by
/// (bpf/progs/datapath.bpf.c, map fqdn_names): lowercase, without the trailing dot, and one of
/// a full name, `*.` + a suffix (the `*` stands for exactly one label, as in Cilium), or `*`
/// (every name).
public struct FQDNSelector: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The kernel's lookup key: `api.example.com`, `*.example.com` or `*`.
    public let key: String

    /// The longest name the kernel compares (VIGIL_FQDN_NAME_MAX - 1).
    public static let maxLength = 127

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
                guard i == 0, label == "*", labels.count > 1 else {
                    return .failure(
                        .init(
                            "\"\(text)\": the datapath matches a wildcard only as a whole first label (\"*.example.com\": one level of subdomain) or alone (\"*\"); write those, or list the names with matchName"
                        ))
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
        return n == key
    }

    public var isPattern: Bool { key.contains("*") }
    public var description: String { key }
    public static func < (a: FQDNSelector, b: FQDNSelector) -> Bool { a.key < b.key }
}
