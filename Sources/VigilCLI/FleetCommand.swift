import ArgumentParser
import Fleet
import Foundation

/// `vigil fleet`: the fleet's tracing policies and nodes in etcd (docs/fleet.md).
struct FleetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "Apply tracing policies to a fleet of agents through etcd, and see each node's state.",
        subcommands: [Policy.self, NetPolicy.self, Status.self, Nodes.self]
    )

    /// How to reach etcd: the same names as the agent's settings.
    struct Store: ParsableArguments {
        @Option(help: "etcd's client URLs, comma-separated (or VIGIL_KVSTORE_ENDPOINTS).")
        var kvstoreEndpoints: String?
        @Option(help: "CA (PEM) of etcd's certificate.") var kvstoreCa: String?
        @Option(help: "Client certificate (PEM).") var kvstoreCert: String?
        @Option(help: "Client certificate key (PEM).") var kvstoreKey: String?
        @Option(help: "etcd user (auth enabled).") var kvstoreUser: String?
        @Option(help: "File holding the etcd user's password.") var kvstorePasswordFile: String?
        @Option(help: "The fleet's key prefix.") var kvstorePrefix = "/vigil"

        func settings() -> EtcdSettings {
            var s = EtcdSettings()
            let urls = kvstoreEndpoints ?? ProcessInfo.processInfo.environment["VIGIL_KVSTORE_ENDPOINTS"] ?? "http://127.0.0.1:2379"
            s.endpoints = urls.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            s.caFile = kvstoreCa
            s.certFile = kvstoreCert
            s.keyFile = kvstoreKey
            s.user = kvstoreUser
            s.passwordFile = kvstorePasswordFile
            s.prefix = kvstorePrefix
            return s
        }
    }

    /// Runs `body` with an admin client and maps failures to exit codes (2: bad input, 1: the store).
    static func run<R: Sendable>(_ command: String, _ store: Store, _ body: @escaping @Sendable (FleetAdmin) async throws -> R) throws -> R {
        let settings = store.settings()
        do { try settings.check() } catch { throw fail(command, "\(error)", code: 2) }
        do {
            return try runBlocking {
                let admin = try await FleetAdmin.connect(settings: settings)
                defer { admin.client.close() }
                return try await body(admin)
            }
        } catch let e as FleetAdmin.Refusal {
            throw fail(command, e.description, code: e.isInput ? 2 : 1)
        } catch {
            throw fail(command, "\(error)", code: 1)
        }
    }

    static func fail(_ command: String, _ message: String, code: Int32) -> ExitCode {
        FileHandle.standardError.write(Data("vigil fleet \(command): \(message)\n".utf8))
        return ExitCode(code)
    }

    struct Policy: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write, change, delete and list the fleet's tracing policies.", subcommands: [Apply.self, Mode.self, Delete.self, List.self])
    }

    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a TracingPolicy file and write it for the fleet (the next generation); matching agents load it.")
        @OptionGroup var store: Store
        @Argument(help: "The TracingPolicy YAML file.") var file: String
        @Option(help: "Only nodes carrying all these labels run it: label=value[,label=value...] (default: every node).") var nodes: String?
        @Option(help: "enforce or monitor, overriding the file's policy-mode.") var mode: String?
        @Option(help: "The fleet policy's name (default: the file's first policy's metadata.name).") var name: String?

        func run() throws {
            guard let data = FileManager.default.contents(atPath: file) else { throw fail("policy apply", "\(file): cannot be read", code: 2) }
            if let mode, mode != "enforce" && mode != "monitor" { throw fail("policy apply", "--mode \(mode): expected enforce or monitor", code: 2) }
            let yaml = String(decoding: data, as: UTF8.self)
            let entry: String
            let selector: [String: String]
            do {
                entry = try FleetAdmin.validate(yaml: yaml, file: file, name: name)
                selector = try FleetAdmin.selector(nodes)
            } catch { throw fail("policy apply", error.description, code: 2) }
            let mode = mode
            let p = try FleetCommand.run("policy apply", store) { admin in
                try await admin.apply(name: entry, yaml: yaml, nodes: selector, mode: mode)
            }
            let target = p.nodes.isEmpty ? "every node" : "nodes with " + p.nodes.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ",")
            print("fleet policy \(p.name) at generation \(p.generation) for \(target)\(p.mode.map { " in \($0) mode" } ?? "")")
        }
    }

    struct Mode: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Switch a fleet policy to enforce or monitor (one write, the next generation).")
        @OptionGroup var store: Store
        @Argument(help: "The fleet policy's name.") var name: String
        @Argument(help: "enforce or monitor.") var mode: String

        func run() throws {
            guard mode == "enforce" || mode == "monitor" else { throw fail("policy mode", "\(mode): expected enforce or monitor", code: 2) }
            let (name, mode) = (name, mode)
            let p = try FleetCommand.run("policy mode", store) { admin in try await admin.apply(name: name, yaml: nil, nodes: nil, mode: mode) }
            print("fleet policy \(p.name) at generation \(p.generation) in \(mode) mode")
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a fleet policy: every agent unloads it.")
        @OptionGroup var store: Store
        @Argument(help: "The fleet policy's name.") var name: String

        func run() throws {
            let name = name
            try FleetCommand.run("policy delete", store) { admin in try await admin.delete(name: name) }
            print("fleet policy \(name) deleted")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The fleet's tracing policies.")
        @OptionGroup var store: Store
        @Flag(help: "JSON instead of a table.") var json = false

        func run() throws {
            let policies = try FleetCommand.run("policy list", store) { admin in try await admin.policies() }
            if json { return print(String(decoding: FleetJSON.encode(policies), as: UTF8.self)) }
            print("NAME\tGENERATION\tMODE\tNODES")
            for p in policies {
                print(
                    "\(p.name)\t\(p.generation)\t\(p.mode ?? "-")\t\(p.nodes.isEmpty ? "all" : p.nodes.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ","))"
                )
            }
        }
    }

    struct NetPolicy: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "netpolicy",
            abstract: "Write, delete and list the fleet's network policies (CiliumNetworkPolicy, NetworkPolicy); every matching node enforces them.",
            subcommands: [NetApply.self, NetDelete.self, NetList.self])
    }

    struct NetApply: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "apply", abstract: "Validate a network policy file and write it for the fleet (the next generation).")
        @OptionGroup var store: Store
        @Argument(help: "The network policy YAML file.") var file: String
        @Option(help: "Only nodes carrying all these labels enforce it: label=value[,label=value...] (default: every node).") var nodes: String?
        @Option(help: "The fleet policy's name (default: the file's first policy's metadata.name).") var name: String?

        func run() throws {
            guard let data = FileManager.default.contents(atPath: file) else { throw fail("netpolicy apply", "\(file): cannot be read", code: 2) }
            let yaml = String(decoding: data, as: UTF8.self)
            let entry: String
            let selector: [String: String]
            do {
                entry = try FleetAdmin.validateNetwork(yaml: yaml, file: file, name: name)
                selector = try FleetAdmin.selector(nodes)
            } catch { throw fail("netpolicy apply", error.description, code: 2) }
            let p = try FleetCommand.run("netpolicy apply", store) { admin in
                try await admin.apply(name: entry, yaml: yaml, nodes: selector, mode: nil, in: .network)
            }
            print("fleet network policy \(p.name) at generation \(p.generation)")
        }
    }

    struct NetDelete: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete a fleet network policy: every node stops enforcing it.")
        @OptionGroup var store: Store
        @Argument(help: "The fleet policy's name.") var name: String

        func run() throws {
            let name = name
            try FleetCommand.run("netpolicy delete", store) { admin in try await admin.delete(name: name, in: .network) }
            print("fleet network policy \(name) deleted")
        }
    }

    struct NetList: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "The fleet's network policies.")
        @OptionGroup var store: Store
        @Flag(help: "JSON instead of a table.") var json = false

        func run() throws {
            let policies = try FleetCommand.run("netpolicy list", store) { admin in try await admin.policies(in: .network) }
            if json { return print(String(decoding: FleetJSON.encode(policies), as: UTF8.self)) }
            print("NAME\tGENERATION\tNODES")
            for p in policies {
                print("\(p.name)\t\(p.generation)\t\(p.nodes.isEmpty ? "all" : p.nodes.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ","))")
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Each policy's state on each live node, e.g. \"3/3 nodes at generation 4\"; errors named.")
        @OptionGroup var store: Store
        @Flag(help: "JSON instead of a table.") var json = false

        func run() throws {
            let report = try FleetCommand.run("status", store) { admin in
                FleetStatusReport(
                    nodes: try await admin.nodes(), policies: try await admin.policies(), states: try await admin.states(),
                    network: try await admin.policies(in: .network), networkStates: try await admin.states(in: .network))
            }
            print(json ? String(decoding: FleetJSON.encode(report), as: UTF8.self) : report.table)
        }
    }

    struct Nodes: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The live nodes: labels, kernel, tiers, version, policy-set hash.")
        @OptionGroup var store: Store
        @Flag(help: "JSON instead of a table.") var json = false

        func run() throws {
            let nodes = try FleetCommand.run("nodes", store) { admin in try await admin.nodes() }
            if json { return print(String(decoding: FleetJSON.encode(nodes), as: UTF8.self)) }
            print("NODE\tLABELS\tKERNEL\tVERSION\tPOLICY-SET")
            for n in nodes {
                print(
                    "\(n.name)\t\(n.labels.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ","))\t\(n.kernel)\t\(n.agentVersion)\t\(n.policySetHash)"
                )
            }
        }
    }
}
