import AgentAPI
import AgentRuntime
import ArgumentParser
import Foundation
import TetragonAPI

/// `vigil status`: is the agent there and ready, and what does it run.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "A running agent's health, uptime, loss and policies (through its API); exit 1 when it is not ready."
    )

    @Option(help: "The agent's API address.")
    var serverAddress = AgentConfiguration.defaultServerAddress

    func run() throws {
        let r: (Tetragon_GetHealthStatusResponse, Tetragon_ListTracingPoliciesResponse, Tetragon_GetVersionResponse)
        do {
            r = try AgentAPIClient.call(serverAddress) { s in
                (
                    try await s.getHealth(Tetragon_GetHealthStatusRequest()), try await s.listTracingPolicies(Tetragon_ListTracingPoliciesRequest()),
                    try await s.getVersion(Tetragon_GetVersionRequest())
                )
            }
        } catch {
            FileHandle.standardError.write(Data("vigil status: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let (health, policies, version) = r
        let h = health.healthStatus.first
        let running = h?.status == .healthStatusRunning
        print("agent: \(running ? "ready" : "not ready") (vigil \(version.version))")
        print("  \(h?.details ?? "no health status")")
        let broken = policies.policies.filter { $0.state != .tpStateEnabled }
        print("policies: \(policies.policies.count) loaded, \(broken.count) not enabled")
        for p in policies.policies {
            print("  \(p.name)  \(p.state == .tpStateEnabled ? "enabled" : "NOT ENABLED: \(p.error)")  \(p.info)")
        }
        if !running || !broken.isEmpty { throw ExitCode(1) }
    }
}

/// `vigil version`: this binary's version (and, with an agent running, the agent's).
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print Vigil's version, and the running agent's if one answers.")

    @Option(help: "The agent's API address.")
    var serverAddress = AgentConfiguration.defaultServerAddress

    func run() throws {
        print("vigil \(VigilVersion.string)")
        if let agent = try? AgentAPIClient.call(serverAddress, { try await $0.getVersion(Tetragon_GetVersionRequest()) }) {
            print("agent \(agent.version)")
        }
    }
}
