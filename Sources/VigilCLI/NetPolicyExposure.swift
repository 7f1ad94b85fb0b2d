import ArgumentParser
import Datapath
import Foundation
import NetworkPolicy
import PolicyYAML

/// `vigil netpolicy exposure`: for each endpoint and port, who may reach it under the
/// policies in the agent's directory against who connected (the export's flows), with the
/// reach nobody uses first: from the world, then from other groups.
struct NetPolicyExposure: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exposure", abstract: "Who may reach each endpoint and port, against who actually connected.")
    @OptionGroup var dir: NetPolicyCommand.Dir
    @Option(help: "The agent's export file (its --export-file), for the flows.") var file = "/var/log/vigil/events.json"
    @Option(help: "Only flows of the last DURATION (30s, 15m, 2h, 7d).") var since: String?
    @Option(help: "The label whose value names a group of endpoints.") var groupBy = "app"
    @Flag(help: "One JSON object per row.") var json = false

    func validate() throws {
        if let since, NetPolicySuggest.seconds(since) == nil { throw ValidationError("--since \"\(since)\": a number with s, m, h or d (30s, 15m, 2h, 7d)") }
    }

    func run() throws {
        guard let data = FileManager.default.contents(atPath: dir.statusFile), let status = try? JSONDecoder().decode(DatapathStatus.self, from: data) else {
            throw NetPolicyCommand.fail("no datapath status at \(dir.statusFile): is the agent running (without --disable-datapath)?", code: 1)
        }
        let endpoints = status.endpoints.compactMap { e -> EndpointModel? in
            guard let prefix = IPPrefix(e.address + "/32") else { return nil }
            var labels: [String: String] = [:]
            for pair in e.labels.split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
                if kv.count == 2 { labels[kv[0]] = kv[1] }
            }
            return EndpointModel(
                id: e.id, name: e.name, namespace: e.namespace, labels: Labels(labels), identity: Identity(e.identity), addresses: [prefix],
                auditMode: e.policyAuditMode ?? false)
        }
        var policies: [NetworkPolicy] = []
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir.dir)) ?? []).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
        for f in files {
            let r = NetworkPolicyLoader.load(path: "\(dir.dir)/\(f)")
            if r.isValid {
                policies += r.policies
            } else {
                FileHandle.standardError.write(Data("vigil netpolicy: \(dir.dir)/\(f) has errors: left out (as the agent does)\n".utf8))
            }
        }
        let cutoff = since.flatMap(NetPolicySuggest.seconds).map { Date().addingTimeInterval(-$0) }
        var flows: [ObservedFlow] = []
        if let export = FileManager.default.contents(atPath: file) {
            for line in export.split(separator: 0x0a) {
                guard let f = FlowHistory.observed(Data(line)) else { continue }
                if let cutoff, Date(timeIntervalSince1970: Double(f.timeNs) / 1e9) < cutoff { continue }
                flows.append(f)
            }
        } else {
            FileHandle.standardError.write(Data("vigil netpolicy: cannot read \(file): no traffic counted\n".utf8))
        }
        let rows = Exposure.compute(endpoints: endpoints, policies: policies, observed: flows, groupLabel: groupBy)
            .sorted { (rank($0), $0.endpoint, $0.port) < (rank($1), $1.endpoint, $1.port) }
        if json {
            for r in rows {
                let obj: [String: Any] = [
                    "endpoint": r.endpoint, "port": r.port, "reachable_from": r.reachableFrom, "connected_from": r.connectedFrom, "unused": r.unused,
                    "connections": r.connections, "world_reachable": r.worldReachable,
                ]
                print(String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys]), as: UTF8.self))
            }
            return
        }
        let world = rows.filter { $0.worldReachable && $0.connections == 0 }.count
        let idle = rows.filter { r in r.unused.contains { $0 != "host" } }.count
        print("\(rows.count) endpoint ports; \(world) reachable from the world with no traffic; \(idle) with allowed peers that never connected")
        print(
            "ENDPOINT".padding(toLength: 28, withPad: " ", startingAt: 0) + "PORT".padding(toLength: 16, withPad: " ", startingAt: 0)
                + "REACHABLE FROM / CONNECTED / UNUSED")
        for r in rows {
            print(
                r.endpoint.padding(toLength: 28, withPad: " ", startingAt: 0) + r.port.padding(toLength: 16, withPad: " ", startingAt: 0)
                    + "\(r.reachableFrom.joined(separator: ",")) / \(r.connectedFrom.isEmpty ? "-" : r.connectedFrom.joined(separator: ",")) (\(r.connections)) / \(r.unused.isEmpty ? "-" : r.unused.joined(separator: ","))"
            )
        }
    }

    /// Unused reach from the world first, then unused reach from others, then the rest.
    func rank(_ r: ExposureRow) -> Int {
        if r.worldReachable && r.unused.contains(where: { $0 == "world" || $0 == "everyone" }) { return 0 }
        if !r.unused.isEmpty { return 1 }
        return 2
    }
}
