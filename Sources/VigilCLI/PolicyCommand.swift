import ArgumentParser
import Foundation
import PolicyYAML

/// `vigil policy ...`: work with TracingPolicy files.
struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Validate, explain and list TracingPolicy files.",
        subcommands: [Validate.self, Explain.self, List.self, Try.self, Test.self]
    )

    /// `vigil policy validate FILE...`: every problem, positioned; exit 2 if any.
    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check TracingPolicy files without loading anything into the kernel.",
            discussion: "Prints 'FILE: ok (N hooks)' per valid file, or every error as FILE:LINE:COL. Exits 2 when any file has errors."
        )

        @Argument(help: "Policy files (YAML, one or more documents each).")
        var files: [String]

        func validate() throws {
            if files.isEmpty { throw ValidationError("name at least one policy file") }
        }

        func run() throws {
            var failed = false
            for file in files {
                let result = PolicyLoader.load(path: file)
                for warning in result.warnings { FileHandle.standardError.write(Data((warning.description + "\n").utf8)) }
                if result.isValid {
                    let hooks = result.policies.reduce(0) { $0 + $1.spec.hookCount }
                    let names = result.policies.map(\.name).joined(separator: ", ")
                    print("\(file): ok (\(hooks) hook\(hooks == 1 ? "" : "s"); \(names))")
                } else {
                    failed = true
                    for diag in result.diagnostics { FileHandle.standardError.write(Data((diag.description + "\n").utf8)) }
                    FileHandle.standardError.write(Data("\(file): \(result.diagnostics.count) error\(result.diagnostics.count == 1 ? "" : "s")\n".utf8))
                }
            }
            if failed { throw ExitCode(2) }
        }
    }
}
