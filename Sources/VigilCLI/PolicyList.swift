import ArgumentParser
import Foundation
import PolicyEngine

extension PolicyCommand {
    /// `vigil policy list`: the running agent's policies, hook states and counters.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the policies a running agent has loaded, with each hook's state and counters.",
            discussion: "Reads the status the agent writes every second (default /run/vigil/policies.json)."
        )

        @Option(help: "The agent's status file.")
        var statusFile = "/run/vigil/policies.json"
        @Flag(help: "Print JSON.")
        var json = false

        func run() throws {
            guard let data = FileManager.default.contents(atPath: statusFile) else {
                FileHandle.standardError.write(Data("vigil policy list: \(statusFile) not found: is `vigil agent` running?\n".utf8))
                throw ExitCode(1)
            }
            let file: AgentStatusFile
            do { file = try AgentStatusFile.decode(data) } catch {
                FileHandle.standardError.write(Data("vigil policy list: \(statusFile): not an agent status file (\(error))\n".utf8))
                throw ExitCode(1)
            }
            let policies = file.policies
            // a dead agent's file describes nothing that runs: said first, and exit 1
            let stale = file.staleness { pid in kill(pid, 0) == 0 || errno == EPERM }
            if json {
                print(String(decoding: data, as: UTF8.self))
                if stale != nil { throw ExitCode(1) }
                return
            }
            if let stale {
                print(
                    "STALE: \(statusFile): \(stale); last written \(file.agent.updated). What follows is what it had loaded: its enforcing policies stay pinned in the kernel (they keep killing and denying) until an agent takes them over or `vigil cleanup` ends them."
                )
            }
            if policies.isEmpty { print("no policies loaded") }
            for p in policies {
                print("\(p.name)  mode=\(p.mode)  \(p.file)\(p.disabled ? "  DISABLED (nothing in the kernel)" : "")")
                for h in p.hooks {
                    let c = h.counters
                    let cost = c.nsPerRun.map { " ns/run=\($0)" } ?? " ns/run=- (sysctl kernel.bpf_stats_enabled=1 to measure)"
                    print(
                        "  \(h.hook): \(h.state) as \(h.tier) \(h.attachPoint)  runs=\(c.runs) posted=\(c.posted) actions=\(c.actions) lost=\(c.lost)\(c.resolves.map { " resolves=\($0)" } ?? "")\(cost)"
                    )
                }
                for s in p.skipped { print("  skipped (allow-partial-load): \(s)") }
            }
            if stale != nil { throw ExitCode(1) }
        }
    }
}
