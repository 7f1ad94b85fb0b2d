import ArgumentParser
import Foundation
import PolicyEngine
import PolicyModel
import PolicyYAML

#if canImport(Glibc)
    import Glibc
#endif

extension PolicyCommand {
    /// `vigil policy explain FILE`: what each hook becomes on this kernel.
    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show, for each hook, the tier and attach point it gets on this kernel, its in-kernel selectors and what its actions do here.",
            discussion: "Probing the kernel needs root; without it features read as unknown. Exits 2 on policy errors."
        )

        @Argument(help: "A policy file.")
        var file: String

        @Flag(name: .long, help: "Print JSON.")
        var json = false

        /// What the engine makes of each policy on this kernel (compiled, not loaded): the
        /// programs it runs as, and for a detection with alternative forms which form it gets.
        static func engineSummary(_ policies: [TracingPolicy]) -> String {
            var out = "On this kernel (compiled, not loaded; `vigil policy try` loads):\n"
            func programs(_ p: TracingPolicy) -> String {
                guard case .success(let c) = PolicyCompiler.compile(p, firstHookID: 1) else { return "" }
                return c.plans.map { "\($0.attach) as \($0.flavour.rawValue)" }.joined(separator: ", ")
            }
            for group in PolicyForms.groups(policies) {
                let (chosen, refused) = PolicyForms.predict(group)
                if group.count > 1 {
                    out += "  detection \(group[0].labels[PolicyForms.label] ?? ""): "
                    out += chosen.map { "form \($0.name): \(programs($0))\n" } ?? "no form loads here\n"
                    for (p, why) in refused { out += "    form \(p.name) not used: \(why.reasons.map(LoadCheck.shortReason).joined(separator: "; "))\n" }
                } else if let p = chosen {
                    out += "  \(p.name): \(programs(p))\n"
                } else if let (p, why) = refused.first {
                    out += "  \(p.name): cannot load here: \(why.reasons.map(LoadCheck.shortReason).joined(separator: "; "))\n"
                }
            }
            return out
        }

        func run() throws {
            let result = PolicyLoader.load(path: file)
            for w in result.warnings { FileHandle.standardError.write(Data((w.description + "\n").utf8)) }
            guard result.isValid else {
                for d in result.diagnostics { FileHandle.standardError.write(Data((d.description + "\n").utf8)) }
                throw ExitCode(2)
            }
            if geteuid() != 0 {
                FileHandle.standardError.write(Data("vigil policy explain: not root, so the kernel cannot be probed; placements below read as unknown\n".utf8))
            }
            let explanations = result.policies.map { PolicyExplanation.explain($0) }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(explanations), as: UTF8.self))
            } else {
                for e in explanations { print(e.text) }
                print(Self.engineSummary(result.policies))
            }
        }
    }
}
