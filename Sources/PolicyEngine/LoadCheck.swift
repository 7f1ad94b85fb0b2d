import BPFKit
import PolicyModel

/// Loads a policy into the running kernel and unloads it again, to say whether and how it
/// runs here (`vigil policy try`, and the conformance load table in docs/conformance-load.md).
public enum LoadCheck {
    /// One line: `loads: <hook> as <tier>, ...` or `fails: <first reason>`.
    public static func check(_ policy: TracingPolicy, manager: PolicyManager, fullLog: Bool = false) -> String {
        do {
            try manager.load(policy)
        } catch {
            var line = "fails: " + (error.reasons.first.map(shortReason) ?? "unknown")
            if fullLog, case .kernel(_, let e)? = error.reasons.first { line += "\n" + e.libbpfLog }
            return line
        }
        let hooks = manager.loaded[policy.name]?.hooks.map { "\($0.plan.attach) as \($0.plan.flavour.rawValue)" } ?? []
        let skipped = manager.loaded[policy.name]?.skipped ?? []
        manager.unload(name: policy.name)
        return "loads: " + hooks.joined(separator: ", ") + (skipped.isEmpty ? "" : "; partial, skipped: " + skipped.map(shortReason).joined(separator: "; "))
    }

    /// A reason short enough for a table cell, stable across runs (no addresses, no full logs).
    public static func shortReason(_ e: EngineError) -> String {
        switch e {
        case .unsupported(let why): return why
        case .unplaceable(let hook, let tried):
            // "fentry: fentry unavailable (load: EPERM, prog ...: failed ...)" -> "fentry: fentry unavailable (load: EPERM)"
            let tiers = tried.map { t -> String in
                guard let open = t.firstIndex(of: "(") else { return t }
                let head = t[..<open].trimmingCharacters(in: .whitespaces)
                let inner = t[t.index(after: open)...].prefix { $0 != "," && $0 != ")" }
                return "\(head) (\(inner))"
            }
            return "\(hook): no hook tier (" + tiers.joined(separator: "; ") + ")"
        case .kernel(let hook, let error):
            return "\(hook): \(error.operation): \(error.errnoName)" + (verifierVerdict(error.libbpfLog).map { " (verifier: \($0))" } ?? "")
        case .ignored(let hook, _):
            return "\(hook): skipped (ignore.callNotFound)"
        }
    }

    /// The verifier's complaint: the last log line before its statistics.
    static func verifierVerdict(_ log: String) -> String? {
        let lines = log.split(separator: "\n").map(String.init)
        guard let stats = lines.lastIndex(where: { $0.hasPrefix("processed ") }), stats > 0 else { return nil }
        return lines[stats - 1].trimmingCharacters(in: .whitespaces)
    }
}
