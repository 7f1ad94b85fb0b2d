import AgentAPI
import AgentRuntime
import ArgumentParser
import Foundation
import SwiftProtobuf
import TetragonAPI

/// `vigil getevents`: the running agent's events, live, through its API.
struct GetEventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "getevents",
        abstract: "Stream a running agent's events (its gRPC API): JSON lines or one compact line per event.",
        discussion: "Filters run in the agent: only matching events leave it. Stops on Ctrl-C or after --max-events."
    )

    @Option(help: "The agent's API address.")
    var serverAddress = AgentConfiguration.defaultServerAddress
    @Option(name: .shortAndLong, help: "json (Tetragon's GetEventsResponse as JSON) or compact.")
    var output: Format = .json
    @Option(help: "Only these event types, comma-separated (process_exec, process_exit, process_kprobe, ...).")
    var eventTypes: String?
    @Option(help: "Only events of processes whose binary matches this regular expression.")
    var process: String?
    @Option(help: "Only events of these policies, comma-separated.")
    var policyNames: String?
    @Option(help: "Colors in compact output: auto (a terminal), always or never.")
    var color: ColorChoice = .auto
    @Flag(help: "Start compact lines with the event's time.")
    var timestamps = false
    @Option(help: "Stop after this many events.")
    var maxEvents: Int?

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case json
        case compact
    }

    enum ColorChoice: String, ExpressibleByArgument, CaseIterable {
        case auto
        case always
        case never
    }

    func run() throws {
        let request = try makeRequest()
        let format = CompactEventFormat(color: color == .always || (color == .auto && isatty(STDOUT_FILENO) == 1), timestamps: timestamps)
        let compact = output == .compact
        let limit = maxEvents
        do {
            try AgentAPIClient.call(serverAddress) { sensors in
                try await sensors.getEvents(request) { response in
                    var seen = 0
                    var options = JSONEncodingOptions()
                    options.preserveProtoFieldNames = true
                    for try await event in response.messages {
                        let json = try event.jsonString(options: options)
                        var line = json
                        if compact, let dict = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] { line = format.line(dict) }
                        // unbuffered: a pipe into grep or a file sees each event as it comes
                        FileHandle.standardOutput.write(Data((line + "\n").utf8))
                        seen += 1
                        if let limit, seen >= limit { return }
                    }
                }
            }
        } catch {
            FileHandle.standardError.write(Data("vigil getevents: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    /// The flags as one allow filter (every flag given must match).
    func makeRequest() throws -> Tetragon_GetEventsRequest {
        var filter = Tetragon_Filter()
        if let eventTypes {
            let known = Dictionary(uniqueKeysWithValues: Tetragon_EventType.allCases.map { (EventTypeNames.name($0).lowercased(), $0) })
            for name in eventTypes.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) {
                guard let t = known[name], t != .undef else {
                    let accepted = known.keys.filter { $0 != "undef" }.sorted().joined(separator: ", ")
                    FileHandle.standardError.write(Data("vigil getevents: --event-types: unknown type '\(name)'; accepted: \(accepted)\n".utf8))
                    throw ExitCode(2)
                }
                filter.eventSet.append(t)
            }
        }
        if let process {
            guard (try? NSRegularExpression(pattern: process)) != nil else {
                FileHandle.standardError.write(Data("vigil getevents: --process: not a regular expression: \(process)\n".utf8))
                throw ExitCode(2)
            }
            filter.binaryRegex = [process]
        }
        if let policyNames { filter.policyNames = policyNames.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        var request = Tetragon_GetEventsRequest()
        if filter != Tetragon_Filter() { request.allowList = [filter] }
        return request
    }
}
