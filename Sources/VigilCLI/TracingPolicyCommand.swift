import AgentAPI
import AgentRuntime
import ArgumentParser
import Foundation
import SwiftProtobuf
import TetragonAPI

/// `vigil tracingpolicy`: a running agent's policies, changed through its API (as
/// `tetra tracingpolicy`). Policies added here persist in the agent's state directory.
struct TracingPolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tracingpolicy",
        abstract: "Add, delete and list a running agent's TracingPolicies through its API.",
        subcommands: [Add.self, Delete.self, List.self, Enable.self, Disable.self, Mode.self]
    )

    struct Connection: ParsableArguments {
        @Option(help: "The agent's API address.")
        var serverAddress = AgentConfiguration.defaultServerAddress
    }

    static func fail(_ command: String, _ error: Error) -> ExitCode {
        FileHandle.standardError.write(Data("vigil tracingpolicy \(command): \(error)\n".utf8))
        return ExitCode(1)
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Load the policies of a YAML file (all or none); they stay across agent restarts.")
        @OptionGroup var connection: Connection
        @Argument(help: "The TracingPolicy YAML file.")
        var file: String

        func run() throws {
            guard let data = FileManager.default.contents(atPath: file) else { throw fail("add", CLIMessage("\(file): cannot read it")) }
            var request = Tetragon_AddTracingPolicyRequest()
            request.yaml = String(decoding: data, as: UTF8.self)
            let r = request
            do { _ = try AgentAPIClient.call(connection.serverAddress) { try await $0.addTracingPolicy(r) } } catch { throw fail("add", error) }
            print("added \(file)")
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Unload a policy the API added, and forget it.")
        @OptionGroup var connection: Connection
        @Argument(help: "The policy's name (metadata.name).")
        var name: String

        func run() throws {
            var request = Tetragon_DeleteTracingPolicyRequest()
            request.name = name
            let r = request
            do { _ = try AgentAPIClient.call(connection.serverAddress) { try await $0.deleteTracingPolicy(r) } } catch { throw fail("delete", error) }
            print("deleted \(name)")
        }
    }

    /// ConfigureTracingPolicy with one change.
    static func configure(_ command: String, _ address: String, name: String, enable: Bool?, mode: Tetragon_TracingPolicyMode?) throws {
        var request = Tetragon_ConfigureTracingPolicyRequest()
        request.name = name
        if let enable { request.enable = enable }
        if let mode { request.mode = mode }
        let r = request
        do { _ = try AgentAPIClient.call(address) { try await $0.configureTracingPolicy(r) } } catch { throw fail(command, error) }
    }

    struct Enable: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Load a disabled policy again.")
        @OptionGroup var connection: Connection
        @Argument(help: "The policy's name.") var name: String
        func run() throws {
            try TracingPolicyCommand.configure("enable", connection.serverAddress, name: name, enable: true, mode: nil)
            print("enabled \(name)")
        }
    }

    struct Disable: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take a policy out of the kernel but keep it (until the agent restarts or its file changes).")
        @OptionGroup var connection: Connection
        @Argument(help: "The policy's name.") var name: String
        func run() throws {
            try TracingPolicyCommand.configure("disable", connection.serverAddress, name: name, enable: false, mode: nil)
            print("disabled \(name)")
        }
    }

    struct Mode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Switch a policy between enforce and monitor (reloaded: the old programs run until the new ones do).")
        @OptionGroup var connection: Connection
        @Argument(help: "The policy's name.") var name: String
        @Argument(help: "enforce or monitor.") var mode: PolicyModeArgument
        func run() throws {
            try TracingPolicyCommand.configure(
                "mode", connection.serverAddress, name: name, enable: nil, mode: mode == .enforce ? .tpModeEnforce : .tpModeMonitor)
            print("\(name): mode \(mode.rawValue)")
        }
    }

    enum PolicyModeArgument: String, ExpressibleByArgument, CaseIterable {
        case enforce
        case monitor
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every loaded policy: state, mode, source, hooks and action counters.")
        @OptionGroup var connection: Connection
        @Flag(help: "Print ListTracingPoliciesResponse as JSON.")
        var json = false

        func run() throws {
            let response: Tetragon_ListTracingPoliciesResponse
            do {
                response = try AgentAPIClient.call(connection.serverAddress) { try await $0.listTracingPolicies(Tetragon_ListTracingPoliciesRequest()) }
            } catch { throw fail("list", error) }
            if json {
                var options = JSONEncodingOptions()
                options.preserveProtoFieldNames = true
                print((try? response.jsonString(options: options)) ?? "{}")
                return
            }
            if response.policies.isEmpty { print("no policies loaded") }
            for p in response.policies {
                let c = p.stats.actionCounters
                let state = "\(p.state)".replacingOccurrences(of: "tpState", with: "").lowercased()
                let mode = p.mode == .tpModeMonitor ? "monitor" : "enforce"
                print("\(p.name)  \(state)  mode=\(mode)  \(p.info)  posted=\(c.post) acted=\(c.signal) would-have-acted=\(c.monitorSignal)")
                if !p.error.isEmpty { print("  error: \(p.error)") }
                for s in p.sensors { print("  \(s)") }
            }
        }
    }
}

/// A CLI-side refusal, said as is.
struct CLIMessage: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
