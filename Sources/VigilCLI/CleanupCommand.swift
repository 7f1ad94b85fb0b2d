import AgentRuntime
import ArgumentParser
import Foundation

/// `vigil cleanup`: ends the enforcement agents left pinned (they keep killing and denying
/// while no agent runs, by design), e.g. before uninstalling.
struct CleanupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cleanup",
        abstract: "Remove the enforcing programs agents left pinned to outlive them (--enforce-pin-dir).",
        discussion: "A running agent keeps its own programs attached until it stops; run this after stopping it to end all enforcement."
    )

    @Option(help: "The agents' --enforce-pin-dir.")
    var enforcePinDir = EnforcementCleanup.defaultDirectory

    func run() throws {
        guard geteuid() == 0 else {
            FileHandle.standardError.write(Data("vigil cleanup: needs root (it removes pinned BPF programs)\n".utf8))
            throw ExitCode(1)
        }
        let removed = EnforcementCleanup.removeAll(root: enforcePinDir)
        print(removed.isEmpty ? "nothing pinned in \(enforcePinDir)" : "removed the enforcement of \(removed.joined(separator: ", ")) from \(enforcePinDir)")
    }
}
