import ArgumentParser
import Datapath
import Foundation

/// `vigil endpoint ...`: workloads of the identity-aware datapath (a network namespace, a veth
/// pair, an address from the node's pool, a cgroup, labels). The running agent picks changes up
/// from the endpoint records within a second.
struct EndpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "endpoint",
        abstract: "Create, delete, list endpoints and run commands in them.",
        subcommands: [Create.self, Delete.self, List.self, Config.self, Exec.self]
    )

    struct Options: ParsableArguments {
        @Option(help: "Endpoint records directory (the agent's --endpoint-state-dir).")
        var stateDir = "/run/vigil/endpoints"
        var manager: EndpointManager { EndpointManager(stateDirectory: stateDir) }
    }

    static func fail(_ message: String, code: Int32) -> ExitCode {
        FileHandle.standardError.write(Data("vigil endpoint: \(message)\n".utf8))
        return ExitCode(code)
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an endpoint (or adopt an existing network namespace with --netns).")
        @Argument(help: "Endpoint name (lowercase letters, digits, '-').") var name: String
        @Option(name: .customLong("label"), help: "A label key=value (repeatable).") var labels: [String] = []
        @Option(help: "Namespace (the Kubernetes sense: policies are namespaced).") var namespace = "default"
        @Option(help: "Adopt this existing network namespace instead of creating one.") var netns: String?
        @Flag(help: "Audit mode: drop nothing; what policy would drop is reported with verdict AUDIT.") var policyAuditMode = false
        @OptionGroup var options: Options

        func run() throws {
            var map: [String: String] = [:]
            for l in labels {
                let parts = l.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, !parts[0].isEmpty else { throw EndpointCommand.fail("--label \"\(l)\": write key=value", code: 2) }
                map[parts[0]] = parts[1]
            }
            guard geteuid() == 0 else { throw EndpointCommand.fail("needs root (it creates namespaces and interfaces)", code: 1) }
            do {
                let r = try options.manager.create(
                    .init(name: name, namespace: namespace, labels: map, adoptNetns: netns, policyAuditMode: policyAuditMode))
                print("\(r.name): \(r.address) (netns \(r.netns), interface \(r.hostInterface), id \(r.id))")
            } catch { throw EndpointCommand.fail("\(error)", code: 1) }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an endpoint (an adopted namespace is left in place).")
        @Argument var name: String
        @OptionGroup var options: Options
        func run() throws {
            do { try options.manager.delete(name: name) } catch { throw EndpointCommand.fail("\(error)", code: 1) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List endpoints, with identities when the agent runs.")
        @OptionGroup var options: Options
        @Option(help: "The agent's datapath status file.") var statusFile = "/run/vigil/datapath.json"
        func run() throws {
            let status = FileManager.default.contents(atPath: statusFile).flatMap { try? JSONDecoder().decode(DatapathStatus.self, from: $0) }
            print(
                "NAME".padding(toLength: 16, withPad: " ", startingAt: 0) + "ADDRESS".padding(toLength: 16, withPad: " ", startingAt: 0)
                    + "IDENTITY  DROPS            LABELS")
            for r in options.manager.list() {
                let live = status?.endpoints.first { $0.name == r.name }
                print(
                    r.name.padding(toLength: 16, withPad: " ", startingAt: 0) + r.address.padding(toLength: 16, withPad: " ", startingAt: 0)
                        + (live.map { "\($0.identity)" } ?? "-").padding(toLength: 10, withPad: " ", startingAt: 0)
                        + (live?.modeSummary ?? "-").padding(toLength: 17, withPad: " ", startingAt: 0)
                        + r.fullLabels.description)
            }
        }
    }

    struct Config: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change an endpoint's settings (the running agent applies them within a second, the endpoint stays attached).")
        @Argument var name: String
        @Option(help: "on: drop nothing, report what policy would drop (verdict AUDIT); off: enforce.") var policyAuditMode: String
        @OptionGroup var options: Options
        func validate() throws {
            guard ["on", "off"].contains(policyAuditMode) else { throw ValidationError("--policy-audit-mode: on or off, not \"\(policyAuditMode)\"") }
        }
        func run() throws {
            guard geteuid() == 0 else { throw EndpointCommand.fail("needs root (it writes the endpoint state directory)", code: 1) }
            do {
                let r = try options.manager.setPolicyAuditMode(name: name, policyAuditMode == "on")
                print("\(r.name): policy audit mode \(policyAuditMode)")
            } catch { throw EndpointCommand.fail("\(error)", code: 1) }
        }
    }

    struct Exec: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run a command inside an endpoint (its network namespace and cgroup).")
        @Argument var name: String
        @Argument(parsing: .captureForPassthrough) var command: [String]
        @OptionGroup var options: Options
        func run() throws {
            guard let r = options.manager.list().first(where: { $0.name == name }) else { throw EndpointCommand.fail("no endpoint named \"\(name)\"", code: 1) }
            let args = EndpointManager.execArguments(r, command.first == "--" ? Array(command.dropFirst()) : command)
            let cargs = args.map { strdup($0) } + [nil]
            execv(args[0], cargs)
            throw EndpointCommand.fail("exec \(args[0]): \(String(cString: strerror(errno)))", code: 1)
        }
    }
}
