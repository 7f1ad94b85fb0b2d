import AgentCore
import ArgumentParser
import Foundation

/// `vigil flows`: flow events from the agent's export file, filtered, one line each (or the
/// JSON with --json). Follows the file like `tail -f` with --follow.
struct FlowsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "flows", abstract: "Show flow events (new, dropped, closed) with their processes.")

    @Option(help: "The agent's export file, or - for standard input (vigil agent --export-stdout | vigil flows --file -).")
    var file = "/var/log/vigil/events.json"
    @Option(help: "Only flows with this identity at either end.") var identity: UInt32?
    @Option(help: "Only flows with this label (key=value) at either end.") var label: String?
    @Option(help: "FORWARDED, DROPPED or AUDIT (would be dropped, forwarded in audit mode).") var verdict: String?
    @Flag(help: "Keep reading as the file grows.") var follow = false
    @Flag(help: "Print the JSON lines.") var json = false
    @Option(help: "Draw a service map of the flows instead (FILE.svg or FILE.png via Graphviz, or FILE.dot).") var map: String?
    @Option(help: "Only flows of the last DURATION (30s, 15m, 2h, 7d).") var since: String?

    func validate() throws {
        if let since, NetPolicySuggest.seconds(since) == nil { throw ValidationError("--since \"\(since)\": a number with s, m, h or d (30s, 15m, 2h, 7d)") }
        if map != nil && follow { throw ValidationError("--map draws what the file holds: leave out --follow") }
        if let v = verdict, !FlowEvent.verdicts.contains(v) {
            throw ValidationError("--verdict: one of \(FlowEvent.verdicts.joined(separator: ", ")), not \"\(v)\"")
        }
    }

    func run() throws {
        let stdin = file == "-"
        guard let handle = stdin ? FileHandle.standardInput : FileHandle(forReadingAtPath: file) else {
            FileHandle.standardError.write(Data("vigil flows: cannot read \(file) (the agent's --export-file)\n".utf8))
            throw ExitCode(1)
        }
        let drawing = MapBox()
        var pending = Data()
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty {
                if !follow || stdin { break }  // a pipe's end is the writer's end
                usleep(200_000)
                continue
            }
            pending.append(chunk)
            while let nl = pending.firstIndex(of: 0x0a) {
                let line = pending[pending.startIndex..<nl]
                pending = Data(pending[(nl + 1)...])
                if let flow = matching(Data(line)) {
                    if map != nil { drawing.map.add(flow) } else { show(Data(line), flow) }
                }
            }
        }
        if let map {
            guard !drawing.map.isEmpty else { throw NetPolicyCommand.fail("no flows in \(file) match: no map drawn", code: 1) }
            if let problem = try drawing.map.write(to: map) {
                FileHandle.standardError.write(Data("vigil flows: \(problem)\n".utf8))
                throw ExitCode(1)
            }
            print("\(map): service map written")
        }
    }

    final class MapBox { var map = FlowMap() }

    /// The line's flow when it passes the filters.
    private func matching(_ line: Data) -> [String: Any]? {
        guard let obj = try? JSONSerialization.jsonObject(with: line) as? [String: Any], let flow = obj["flow"] as? [String: Any] else { return nil }
        let src = flow["source"] as? [String: Any] ?? [:]
        let dst = flow["destination"] as? [String: Any] ?? [:]
        if let v = verdict, flow["verdict"] as? String != v { return nil }
        if let id = identity, (src["identity"] as? NSNumber)?.uint32Value != id && (dst["identity"] as? NSNumber)?.uint32Value != id { return nil }
        if let l = label {
            let all = (src["labels"] as? [String] ?? []) + (dst["labels"] as? [String] ?? [])
            if !all.contains(where: { $0 == l || $0.hasSuffix(":" + l) }) { return nil }
        }
        if let since, let seconds = NetPolicySuggest.seconds(since) {
            let time = (flow["time"] as? String).flatMap { ISO8601DateFormatter.withFraction.date(from: $0) ?? ISO8601DateFormatter().date(from: $0) }
            if let time, time < Date().addingTimeInterval(-seconds) { return nil }
        }
        return flow
    }

    private func show(_ line: Data, _ flow: [String: Any]) {
        let src = flow["source"] as? [String: Any] ?? [:]
        let dst = flow["destination"] as? [String: Any] ?? [:]
        if json {
            print(String(decoding: line, as: UTF8.self))
            return
        }
        let ip = flow["IP"] as? [String: Any] ?? [:]
        let l4 = (flow["l4"] as? [String: Any])?.first
        let ports = l4?.value as? [String: Any] ?? [:]
        let proc = (flow["process"] as? [String: Any]).map { " \($0["binary"] as? String ?? "?") pid \($0["pid"] ?? "?")" } ?? ""
        let name: ([String: Any]) -> String = { e in (e["pod_name"] as? String).map { "\($0)(\(e["identity"] ?? "?"))" } ?? "id \(e["identity"] ?? "?")" }
        print(
            "\(flow["time"] ?? "") \(flow["flow_type"] ?? "") \(flow["verdict"] ?? "") \(flow["drop_reason_desc"].map { "\($0) " } ?? "")"
                + "\(ip["source"] ?? ""):\(ports["source_port"] ?? "") \(name(src)) -> \(ip["destination"] ?? ""):\(ports["destination_port"] ?? "") \(name(dst)) "
                + "\(l4?.key ?? "")\(proc)")
    }
}
