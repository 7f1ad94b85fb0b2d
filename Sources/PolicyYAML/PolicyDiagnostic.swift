/// One problem in a policy file: where, at which YAML path, what is wrong and what to do.
public struct PolicyDiagnostic: Error, Sendable, Equatable, CustomStringConvertible {
    /// Errors reject the file; warnings are printed but the policy loads (Tetragon accepts
    /// these too, so existing policies keep working).
    public enum Severity: String, Sendable { case error, warning }

    public let severity: Severity
    public let file: String
    public let mark: SourceMark
    /// e.g. `spec.kprobes[0].selectors[1].matchArgs[0].operator`; empty for file-level errors.
    public let path: String
    public let message: String

    public init(file: String, mark: SourceMark, path: String, message: String, severity: Severity = .error) {
        self.severity = severity
        self.file = file
        self.mark = mark
        self.path = path
        self.message = message
    }

    /// `FILE:LINE:COL: error: PATH: MESSAGE`, the shape compilers use, so editors can jump to it.
    public var description: String {
        "\(file):\(mark.line):\(mark.column): \(severity.rawValue): " + (path.isEmpty ? "" : "\(path): ") + message
    }
}

/// Collects every diagnostic of a file (all errors are reported, not just the first).
final class Diagnostics {
    let file: String
    private(set) var all: [PolicyDiagnostic] = []

    /// Positions of the mappings and list items read, by YAML path (of the current document).
    var positions: [String: SourceMark] = [:]

    init(file: String) { self.file = file }

    func error(_ mark: SourceMark, _ path: String, _ message: String) {
        all.append(PolicyDiagnostic(file: file, mark: mark, path: path, message: message))
    }

    func warning(_ mark: SourceMark, _ path: String, _ message: String) {
        all.append(PolicyDiagnostic(file: file, mark: mark, path: path, message: message, severity: .warning))
    }

    var errors: [PolicyDiagnostic] { all.filter { $0.severity == .error } }
    var warnings: [PolicyDiagnostic] { all.filter { $0.severity == .warning } }
    var isEmpty: Bool { errors.isEmpty }
}

/// "did you mean" suggestions by edit distance.
enum Suggest {
    /// The closest candidate to `word`, if it is close enough to be a likely typo.
    static func closest(to word: String, in candidates: [String]) -> String? {
        let lower = word.lowercased()
        if let same = candidates.first(where: { $0.lowercased() == lower }) { return same }
        var best: (String, Int)? = nil
        for c in candidates {
            let d = distance(lower, c.lowercased())
            if best == nil || d < best!.1 { best = (c, d) }
        }
        guard let (candidate, d) = best else { return nil }
        return d <= max(2, candidate.count / 3) ? candidate : nil
    }

    /// ` (did you mean "X"?)` or empty.
    static func hint(_ word: String, _ candidates: [String]) -> String {
        closest(to: word, in: candidates).map { " (did you mean \"\($0)\"?)" } ?? ""
    }

    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8.prefix(64))
        let b = Array(b.utf8.prefix(64))
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        var cur = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            cur[0] = i
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }
}
