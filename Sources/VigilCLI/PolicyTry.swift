import ArgumentParser
import Foundation
import PolicyEngine
import PolicyYAML
import Sensors

extension PolicyCommand {
    /// `vigil policy try FILE...`: load each policy into this kernel and unload it again.
    struct Try: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load each policy into the running kernel and unload it again: says whether and how it runs here.",
            discussion: "Needs root. Nothing stays loaded. Prints 'FILE: NAME: loads: ...' or 'FILE: NAME: fails: REASON'; exits 1 when any fails."
        )

        @Argument(help: "Policy files.")
        var files: [String]

        @Flag(name: .long, help: "Print the kernel's whole verifier log of a program it refuses.")
        var verifierLog = false

        func run() throws {
            guard geteuid() == 0 else {
                FileHandle.standardError.write(Data("vigil policy try: needs root (it loads BPF programs)\n".utf8))
                throw ExitCode(1)
            }
            let sensor = try ProcessSensor(ringBufferBytes: 1 << 16)
            let manager = PolicyManager(shared: .init(try sensor.sharedMaps()))
            var failed = false
            for file in files {
                let r = PolicyLoader.load(path: file)
                guard r.isValid else {
                    failed = true
                    print("\(file): invalid: \(r.diagnostics.first?.description ?? "")")
                    continue
                }
                for p in r.policies {
                    let line = LoadCheck.check(p, manager: manager, fullLog: verifierLog)
                    failed = failed || line.hasPrefix("fails")
                    print("\(file): \(p.name): \(line)")
                }
            }
            if failed { throw ExitCode(1) }
        }
    }
}
