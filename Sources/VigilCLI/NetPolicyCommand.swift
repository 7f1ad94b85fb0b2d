import ArgumentParser
import Datapath
import Foundation
import PolicyYAML

/// `vigil netpolicy ...`: CiliumNetworkPolicy / NetworkPolicy files. `apply` and `delete` work
/// on the running agent's policy directory (it applies changes within a second); a file with
/// errors is refused before it gets there, so the policy in force stays.
struct NetPolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "netpolicy",
        abstract: "Validate, apply, delete and list network policies.",
        subcommands: [Validate.self, Apply.self, Delete.self, List.self, NetPolicySuggest.self, NetPolicyExposure.self, Reset.self]
    )

    static func fail(_ message: String, code: Int32) -> ExitCode {
        FileHandle.standardError.write(Data("vigil netpolicy: \(message)\n".utf8))
        return ExitCode(code)
    }

    struct Dir: ParsableArguments {
        @Option(help: "The agent's network policy directory (its --netpolicy-dir).") var dir = "/etc/vigil/netpolicies"
        @Option(help: "The agent's datapath status file.") var statusFile = "/run/vigil/datapath.json"
    }

    /// Prints every problem; returns the valid results.
    static func check(_ files: [String]) -> (ok: [NetworkPolicyFileResult], failed: Bool) {
        var ok: [NetworkPolicyFileResult] = []
        var failed = false
        for f in files {
            let r = NetworkPolicyLoader.load(path: f)
            if r.isValid {
                ok.append(r)
            } else {
                failed = true
                for d in r.diagnostics { FileHandle.standardError.write(Data((d.description + "\n").utf8)) }
            }
        }
        return (ok, failed)
    }

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check network policy files; every error as FILE:LINE:COL, exit 2 if any.")
        @Argument var files: [String]
        func validate() throws { if files.isEmpty { throw ValidationError("name at least one policy file") } }
        func run() throws {
            let (ok, failed) = NetPolicyCommand.check(files)
            for r in ok {
                print("\(r.file): ok (\(r.policies.map { "\($0.key): \($0.rules.count) rule\($0.rules.count == 1 ? "" : "s")" }.joined(separator: "; ")))")
            }
            if failed { throw ExitCode(2) }
        }
    }

    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a file and put it in the agent's policy directory (replacing a file of the same name).")
        @Argument var file: String
        @OptionGroup var dir: Dir
        func run() throws {
            let (ok, failed) = NetPolicyCommand.check([file])
            if failed { throw NetPolicyCommand.fail("\(file) not applied: fix the errors above (the policies in force are unchanged)", code: 2) }
            try? FileManager.default.createDirectory(atPath: dir.dir, withIntermediateDirectories: true)
            let target = "\(dir.dir)/\((file as NSString).lastPathComponent)"
            guard let data = FileManager.default.contents(atPath: file) else { throw NetPolicyCommand.fail("\(file): cannot be read", code: 1) }
            do { try data.write(to: URL(fileURLWithPath: target), options: .atomic) } catch {
                throw NetPolicyCommand.fail("cannot write \(target): \(error)", code: 1)
            }
            print("\(target): \(ok[0].policies.map(\.key).joined(separator: ", ")) applied (the agent picks it up within a second)")
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove the file defining policy NAME (or ns/NAME) from the agent's policy directory.")
        @Argument var name: String
        @OptionGroup var dir: Dir
        func run() throws {
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir.dir)) ?? []).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
                .sorted()
            for f in files {
                let path = "\(dir.dir)/\(f)"
                let r = NetworkPolicyLoader.load(path: path)
                guard r.policies.contains(where: { $0.key == name || $0.name == name }) else { continue }
                if r.policies.count > 1 {
                    throw NetPolicyCommand.fail(
                        "\(path) defines \(r.policies.count) policies (\(r.policies.map(\.key).joined(separator: ", "))): edit it, or remove the whole file",
                        code: 1)
                }
                try FileManager.default.removeItem(atPath: path)
                print("\(name): removed (\(path))")
                return
            }
            throw NetPolicyCommand.fail("no policy \"\(name)\" in \(dir.dir) (vigil netpolicy list shows them)", code: 1)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Network policies in force, endpoints and identities (from the running agent).")
        @OptionGroup var dir: Dir
        func run() throws {
            guard let data = FileManager.default.contents(atPath: dir.statusFile), let s = try? JSONDecoder().decode(DatapathStatus.self, from: data) else {
                throw NetPolicyCommand.fail("no datapath status at \(dir.statusFile): is the agent running (without --disable-datapath)?", code: 1)
            }
            print("revision \(s.revision), \(s.policyEntries) policy map entries")
            for p in s.policies {
                print("policy \(p.name) (\(p.kind), \(p.rules) rule\(p.rules == 1 ? "" : "s"), mode \(p.mode ?? "enforce"), \(p.file))")
            }
            for e in s.endpoints {
                print("endpoint \(e.name) \(e.address) identity \(e.identity) drops \(e.modeSummary) [\(e.labels)]")
            }
            for e in s.errors { print("error: \(e)") }
        }
    }

    struct Reset: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove the datapath a stopped agent left in force (endpoints become unenforced).",
            discussion:
                "The agent leaves its programs and maps pinned when it stops, so endpoints stay enforced across restarts. This takes them away; run it with no agent running."
        )
        @Option(help: "The agent's --datapath-pin-dir.") var pinDir = "/sys/fs/bpf/vigil/datapath"
        func run() throws {
            guard geteuid() == 0 else { throw NetPolicyCommand.fail("needs root", code: 1) }
            guard FileManager.default.fileExists(atPath: pinDir) else {
                print("nothing pinned at \(pinDir)")
                return
            }
            do { try DatapathKernel.reset(pinDirectory: pinDir) } catch { throw NetPolicyCommand.fail("\(error)", code: 1) }
            print("datapath at \(pinDir) removed")
        }
    }
}
