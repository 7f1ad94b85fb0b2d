import ArgumentParser
import Foundation
import NetworkPolicy
import PolicyYAML

/// `vigil netpolicy suggest`: CiliumNetworkPolicy YAML allowing the flows the agent observed,
/// checked before it is printed: it must validate, and applied to the observed endpoints it
/// must allow every observed flow that was forwarded or audited (the report says how many
/// flows each rule allows and lists any observed flow the set would drop).
struct NetPolicySuggest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suggest",
        abstract: "Suggest network policies (default deny plus what was observed) from the flow history.",
        discussion:
            "Reads the agent's export file. One policy per group of endpoints (--group-by), a baseline per namespace for shared services; the YAML goes to standard output (or --output), the report to standard error."
    )
    @Option(help: "The agent's export file (its --export-file).") var file = "/var/log/vigil/events.json"
    @Option(help: "Only flows of the last DURATION (30s, 15m, 2h, 7d).") var since: String?
    @Option(help: "The label whose value groups endpoints.") var groupBy = "app"
    @Option(help: "A port this many groups reach is a shared service (one baseline rule for every endpoint).") var sharedMin = 2
    @Option(help: "Write the YAML here instead of standard output.") var output: String?

    func validate() throws {
        if let since, Self.seconds(since) == nil { throw ValidationError("--since \"\(since)\": a number with s, m, h or d (30s, 15m, 2h, 7d)") }
        if sharedMin < 1 { throw ValidationError("--shared-min: at least 1") }
        if groupBy.isEmpty { throw ValidationError("--group-by: a label key, such as app") }
    }

    static func seconds(_ text: String) -> Double? {
        guard let unit = text.last, let n = Double(text.dropLast()), n > 0 else { return nil }
        switch unit {
        case "s": return n
        case "m": return n * 60
        case "h": return n * 3600
        case "d": return n * 86400
        default: return nil
        }
    }

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw NetPolicyCommand.fail("cannot read \(file) (the agent's --export-file; flows are there when it runs the datapath)", code: 1)
        }
        let cutoff = since.flatMap(Self.seconds).map { Date().addingTimeInterval(-$0) }
        var flows: [ObservedFlow] = []
        for line in data.split(separator: 0x0a) {
            guard let f = FlowHistory.observed(Data(line)) else { continue }
            if let cutoff, Date(timeIntervalSince1970: Double(f.timeNs) / 1e9) < cutoff { continue }
            flows.append(f)
        }
        guard !flows.isEmpty else {
            throw NetPolicyCommand.fail("no flows in \(file)\(since.map { " in the last \($0)" } ?? ""): nothing to suggest from", code: 1)
        }
        let suggestion = PolicySuggester(groupLabel: groupBy, sharedMinimum: sharedMin).suggest(flows)

        // the output validates as is ...
        let parsed = NetworkPolicyLoader.parse(Array(suggestion.yaml.utf8), file: output ?? "suggested.yaml")
        guard parsed.isValid else {
            for d in parsed.diagnostics { FileHandle.standardError.write(Data((d.description + "\n").utf8)) }
            throw NetPolicyCommand.fail("the suggestion does not validate (a bug: please report it with the flows)", code: 1)
        }
        // ... and allows what was observed, checked against the observed endpoints
        let check = FlowHistory.check(flows, policies: parsed.policies)
        var report = "\(flows.count) flows observed, \(suggestion.policies) policies suggested:\n"
        for r in suggestion.rules { report += "  \(r.policy) \(r.rule): \(r.flows) flow\(r.flows == 1 ? "" : "s")\n" }
        let wrongly = check.filter { $0.flow.verdict != .dropped }
        let dropped = check.filter { $0.flow.verdict == .dropped }
        report += "would drop \(wrongly.count) of the observed forwarded or audited flows"
        report += wrongly.isEmpty ? "\n" : ":\n" + wrongly.prefix(20).map { "  \($0.flow.description)\n" }.joined()
        if !dropped.isEmpty {
            report +=
                "keeps dropping \(dropped.count) flow\(dropped.count == 1 ? "" : "s") that were dropped when observed (not allowed: add them by hand if they should be)\n"
        }
        FileHandle.standardError.write(Data(report.utf8))
        if let output {
            do { try suggestion.yaml.write(toFile: output, atomically: true, encoding: .utf8) } catch {
                throw NetPolicyCommand.fail("cannot write \(output): \(error)", code: 1)
            }
        } else {
            print(suggestion.yaml, terminator: "")
        }
        if !wrongly.isEmpty { throw ExitCode(3) }
    }
}

/// Flow events of the export as observed flows, and observed flows replayed against policies.
enum FlowHistory {
    /// A `flow` event seen by the endpoint whose policy decided it; nil for other lines,
    /// replies, closes and flows without ports.
    static func observed(_ line: Data) -> ObservedFlow? {
        guard let obj = try? JSONSerialization.jsonObject(with: line) as? [String: Any], let flow = obj["flow"] as? [String: Any] else { return nil }
        guard flow["is_reply"] as? Bool != true, let type = flow["flow_type"] as? String, type != "CLOSE",
            let verdictText = flow["verdict"] as? String, let verdict = ObservedFlow.Verdict(rawValue: verdictText),
            let dirText = flow["traffic_direction"] as? String, let direction = TrafficDirection(rawValue: dirText.lowercased()),
            let l4 = (flow["l4"] as? [String: Any])?.first, let proto = PortRange.Proto(rawValue: l4.key),
            let port = ((l4.value as? [String: Any])?["destination_port"] as? NSNumber)?.uint16Value,
            let ip = flow["IP"] as? [String: Any], let src = end(flow["source"], address: ip["source"]),
            let dst = end(flow["destination"], address: ip["destination"])
        else { return nil }
        let time = (flow["time"] as? String).flatMap { ISO8601DateFormatter.withFraction.date(from: $0) ?? ISO8601DateFormatter().date(from: $0) }
        var remote = direction == .egress ? dst : src
        remote.names = flow[direction == .egress ? "destination_names" : "source_names"] as? [String] ?? []
        return ObservedFlow(
            local: direction == .egress ? src : dst, remote: remote, direction: direction, proto: proto, port: port,
            verdict: verdict, timeNs: UInt64(max(0, (time ?? Date()).timeIntervalSince1970) * 1e9))
    }

    static func end(_ value: Any?, address: Any?) -> ObservedFlow.End? {
        guard let e = value as? [String: Any], let text = address as? String, let bytes = IPPrefix.parseAddress(text), bytes.count == 4 else { return nil }
        return ObservedFlow.End(address: bytes, identity: (e["identity"] as? NSNumber)?.uint32Value ?? 0, hubbleLabels: e["labels"] as? [String] ?? [])
    }

    /// The observed flows `policies` would drop, run through the resolver and the datapath's
    /// decision on the endpoints the flows show (numbered here, with their observed identities).
    static func check(_ flows: [ObservedFlow], policies: [NetworkPolicy]) -> [(flow: ObservedFlow, verdict: PolicyVerdict)] {
        var models: [[UInt8]: EndpointModel] = [:]
        for f in flows {
            for e in [f.local, f.remote] where e.isEndpoint && models[e.address] == nil {
                models[e.address] = EndpointModel(
                    id: UInt32(models.count + 1), name: e.addressText, namespace: e.namespace, labels: Labels(e.labels), identity: Identity(e.identity),
                    addresses: [IPPrefix(bytes: e.address, length: 32)])
            }
        }
        let state = PolicyResolver().resolve(endpoints: Array(models.values), policies: policies, hostAddresses: [])
        var out: [(flow: ObservedFlow, verdict: PolicyVerdict)] = []
        for f in flows {
            guard let local = models[f.local.address] else { continue }
            // the host and reserved peers keep their identity; addresses go through the ipcache
            let peer =
                f.remote.reserved.flatMap { Identity.reserved[$0] }.flatMap { $0 == .world ? nil : $0 }
                ?? PolicyVerdict.identity(of: f.remote.address, in: state)
            let v = PolicyVerdict.decide(
                state, endpoint: local.id, direction: f.direction, peer: peer, proto: f.proto.number, port: f.port, names: f.remote.names)
            if v.outcome == .dropped { out.append((f, v)) }
        }
        return out
    }
}

extension ISO8601DateFormatter {
    static var withFraction: ISO8601DateFormatter {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }
}
