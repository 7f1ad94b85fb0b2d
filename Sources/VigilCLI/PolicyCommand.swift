import ArgumentParser
import Foundation
import PolicyEngine
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
            discussion: """
                Checks the YAML against Tetragon's schema and compiles each policy for a kernel with every feature: \
                what it accepts, a kernel loads unless that kernel lacks a hook tier. Prints 'FILE: ok (N hooks)' per \
                valid file, or every error as FILE:LINE:COL. Exits 2 when any file has errors. Needs no root.
                """
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
                // What no kernel would load (the compiler on a kernel with every feature), positioned.
                let refusals = result.policies.flatMap { PolicyValidator.refusals($0) }
                for p in result.policies {
                    for note in PolicyValidator.notCollected(p) { FileHandle.standardError.write(Data("\(p.location): warning: \(note)\n".utf8)) }
                }
                if !refusals.isEmpty {
                    failed = true
                    for r in refusals { FileHandle.standardError.write(Data((r.description + "\n").utf8)) }
                    FileHandle.standardError.write(
                        Data("\(file): \(refusals.count) error\(refusals.count == 1 ? "" : "s") (Vigil would not load it on any kernel)\n".utf8))
                } else if result.isValid {
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
