/// `vigil policy test`'s table, and the README's evasion table (class x tier) built from the
/// results of several kernels.
public enum AttackResultTable {
    /// One line per case: result, tier, class, access, expected and got.
    public static func text(_ results: [AttackResult]) -> String {
        var rows = [["result", "tier", "class", "access", "case", "expected", "got"]]
        for r in results {
            rows.append([
                r.passed ? "pass" : "FAIL", r.tier, r.benign ? "(benign)" : r.attackClass, r.access, r.name,
                r.expected + (r.limit.map { " [limit: \($0)]" } ?? ""), r.got,
            ])
        }
        let widths = (0..<rows[0].count).map { c in min(60, rows.map { $0[c].count }.max() ?? 0) }
        var out = rows.map { row in
            zip(row, widths).map { cell, w in cell.count >= w ? cell : cell + String(repeating: " ", count: w - cell.count) }.joined(separator: "  ")
        }
        let failed = results.filter { !$0.passed }.count
        out.append("\(results.count - failed) passed, \(failed) failed")
        return out.joined(separator: "\n")
    }

    /// Markdown: one row per (class, access), one column per kernel, each cell the outcome of
    /// the attacks of that class there (or the limit a case names), FAIL when one failed.
    public static func markdown(_ byKernel: [(column: String, results: [AttackResult])]) -> String {
        var keys: [String] = []
        var cells: [String: [String: [AttackResult]]] = [:]
        for (column, results) in byKernel {
            for r in results where !r.benign {
                let key = "\(r.attackClass) | \(r.access)"
                if cells[key] == nil { keys.append(key) }
                cells[key, default: [:]][column, default: []].append(r)
            }
        }
        var out = "| class | access | " + byKernel.map(\.column).joined(separator: " | ") + " |\n"
        out += "|---|---|" + byKernel.map { _ in "---|" }.joined() + "\n"
        for key in keys {
            out +=
                "| \(key) | "
                + byKernel.map { column, _ in
                    let rs = cells[key]?[column] ?? []
                    if rs.isEmpty { return "not run" }
                    if rs.contains(where: { !$0.passed }) { return "FAIL" }
                    var outcomes: [String] = []
                    for r in rs where !outcomes.contains(r.got) { outcomes.append(r.got) }
                    let limits = Set(rs.compactMap(\.limit) + rs.filter { $0.got == "n/a" }.map { "n/a: \($0.detail)" })
                    return outcomes.joined(separator: ", ") + " (\(rs.count))" + (limits.isEmpty ? "" : ": " + limits.sorted().joined(separator: "; "))
                }.joined(separator: " | ") + " |\n"
        }
        let benign = byKernel.map { column, results in "\(column): \(results.filter { $0.benign && $0.passed }.count)/\(results.filter(\.benign).count)" }
        out += "\nBenign neighbours quiet: " + benign.joined(separator: ", ") + "\n"
        return out
    }

    /// The cells of `column` in a markdown table of this kind (row key -> cell), for comparing a
    /// document with a run; nil when the table or column is not there.
    public static func column(_ column: String, in text: String) -> [String: String]? {
        let rows = text.split(separator: "\n").filter { $0.hasPrefix("| ") }.map { line in
            line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast().map { $0.trimmingCharacters(in: .whitespaces) }
        }
        guard let header = rows.first(where: { $0.first == "class" && $0.count > 2 && $0[1] == "access" }), let index = header.firstIndex(of: column) else {
            return nil
        }
        var out: [String: String] = [:]
        var inTable = false
        for row in rows {
            if row == header {
                inTable = true
                continue
            }
            guard inTable, row.count == header.count, !row[0].hasPrefix("---") else {
                if inTable && row.count != header.count { break }
                continue
            }
            out["\(row[0]) | \(row[1])"] = row[index]
        }
        return out
    }
}
