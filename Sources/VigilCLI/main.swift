import AgentRuntime
import ArgumentParser

/// The `vigil` command line: a tree of small commands that each call one library entry point.
struct Vigil: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigil",
        abstract: "Runtime security and enforcement for Linux on eBPF.",
        version: VigilVersion.string,
        subcommands: [
            AgentCommand.self, StatusCommand.self, GetEventsCommand.self, TracingPolicyCommand.self, VersionCommand.self, Probe.self, PolicyCommand.self,
            EndpointCommand.self, NetPolicyCommand.self, FlowsCommand.self, CleanupCommand.self, FleetCommand.self,
        ]
    )
}

Vigil.main()
