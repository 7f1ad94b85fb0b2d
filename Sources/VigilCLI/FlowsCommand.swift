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

    func validate() throws {
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
                show(Data(line))
            }
        }
    }

    private func show(_ line: Data) {
        guard let obj = try? JSONSerialization.jsonObject(with: line) as? [String: Any], let flow = obj["flow"] as? [String: Any] else { return }
        let src = flow["source"] as? [String: Any] ?? [:]
        let dst = flow["destination"] as? [String: Any] ?? [:]
        if let v = verdict, flow["verdict"] as? String != v { return }
        if let id = identity, (src["identity"] as? NSNumber)?.uint32Value != id && (dst["identity"] as? NSNumber)?.uint32Value != id { return }
        if let l = label {
            let all = (src["labels"] as? [String] ?? []) + (dst["labels"] as? [String] ?? [])
            if !all.contains(where: { $0 == l || $0.hasSuffix(":" + l) }) { return }
        }
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
