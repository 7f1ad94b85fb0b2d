import EventJSON
import Export
import Foundation
import GRPCCore
import SwiftProtobuf
import TetragonAPI

/// A GetEvents request in the exporter's terms: its allow/deny filters and field filters are
/// the same objects `--export-allowlist` and `--field-filters` take, so one implementation
/// judges both. What Vigil cannot honour is refused (INVALID_ARGUMENT, naming the field),
/// never ignored: a filter that silently matched more would flood the client.
enum EventStreamRequest {
    static func filters(_ request: Tetragon_GetEventsRequest) throws -> ExportFilters {
        ExportFilters(
            allow: try request.allowList.enumerated().map { try filter($1, where: "allow_list[\($0)]") },
            deny: try request.denyList.enumerated().map { try filter($1, where: "deny_list[\($0)]") })
    }

    static func filter(_ f: Tetragon_Filter, where place: String) throws -> ExportFilter {
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        let json = try f.jsonString(options: options)
        do { return try ExportFilter(json: json) } catch {
            throw RPCError(code: .invalidArgument, message: "\(place): \(error)")
        }
    }

    static func fieldFilters(_ request: Tetragon_GetEventsRequest) throws -> [FieldFilter] {
        try request.fieldFilters.enumerated().map { i, ff in
            if ff.hasInvertEventSet && ff.invertEventSet.value {
                throw RPCError(code: .invalidArgument, message: "field_filters[\(i)]: invert_event_set is not supported; list the event types instead")
            }
            let names = ff.eventSet.map(eventTypeName)
            return FieldFilter(eventSet: Set(names), fields: ff.fields.paths, action: ff.action == .exclude ? .exclude : .include)
        }
    }

    static func eventTypeName(_ t: Tetragon_EventType) -> String { EventTypeNames.name(t) }

    /// One exported JSON line as Tetragon's message; strict, as a Tetragon client parses it.
    static func response(line: ArraySlice<UInt8>) throws -> Tetragon_GetEventsResponse {
        try Tetragon_GetEventsResponse(jsonUTF8Bytes: Array(line))
    }
}

/// Tetragon's event type names (PROCESS_EXEC for `.processExec`): the enum's names in the
/// .proto, as JSON writes them.
public enum EventTypeNames {
    public static func name(_ t: Tetragon_EventType) -> String {
        var f = Tetragon_Filter()
        f.eventSet = [t]
        let json = (try? f.jsonString()) ?? ""
        guard let start = json.range(of: "[\""), let end = json.range(of: "\"]") else { return "\(t.rawValue)" }
        return String(json[start.upperBound..<end.lowerBound])
    }
}
