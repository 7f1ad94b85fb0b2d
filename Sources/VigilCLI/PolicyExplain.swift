import ArgumentParser
import Foundation
import PolicyPlan
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
            }
        }
    }
}
