import AgentRuntime
import ArgumentParser
import Foundation
import PolicyModel
import PolicyYAML

extension PolicyCommand {
    /// `vigil policy test FILE|DIR...`: run attack-test suites against this kernel.
    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run attack tests (attacks and benign neighbours written as YAML) against the policies on this kernel.",
            discussion: """
                Starts the agent with each suite's policies, runs every case's shell steps as real processes, and judges \
                the outcome (event, killed, denied, nothing) expected for this kernel's hook tier. Prints a table; \
                exits 1 when a case fails, 2 on a bad suite file. Needs root. Format: docs/attack-tests.md.
                """
        )

        @Argument(help: "Attack-test files, or directories of them (*.yaml).")
        var paths: [String]

        @Option(name: .long, help: "Also write the results as JSON to this file.")
        var json: String?

        @Option(name: .long, help: "Only cases whose name contains this text.")
        var only: String?

        func run() throws {
            guard geteuid() == 0 else {
                FileHandle.standardError.write(Data("vigil policy test: needs root (it loads policies and runs attacks)\n".utf8))
                throw ExitCode(1)
            }
            var files: [String] = []
            for p in paths {
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir) else {
                    FileHandle.standardError.write(Data("\(p): not found\n".utf8))
                    throw ExitCode(2)
                }
                if isDir.boolValue {
                    let names = ((try? FileManager.default.contentsOfDirectory(atPath: p)) ?? []).filter { $0.hasSuffix(".yaml") }.sorted()
                    files += names.map { (p as NSString).appendingPathComponent($0) }
                } else {
                    files.append(p)
                }
            }
            var suites: [AttackSuite] = []
            for f in files {
                let (suite, diagnostics) = AttackSuiteLoader.load(path: f)
                for d in diagnostics { FileHandle.standardError.write(Data((d.description + "\n").utf8)) }
                guard var suite else { throw ExitCode(2) }
                if let only { suite.cases = suite.cases.filter { $0.name.contains(only) } }
                suites.append(suite)
            }
            let runner = PolicyTestRunner(executable: Bundle.main.executablePath ?? CommandLine.arguments[0]) { line in
                FileHandle.standardError.write(Data((line + "\n").utf8))
            }
            var results: [AttackResult] = []
            for s in suites { results += try runner.run(s) }
            print(AttackResultTable.text(results))
            if let json {
                let enc = JSONEncoder()
                enc.outputFormatting = [.prettyPrinted, .sortedKeys]
                try enc.encode(results).write(to: URL(fileURLWithPath: json))
            }
            if results.contains(where: { !$0.passed }) { throw ExitCode(1) }
        }
    }
}
