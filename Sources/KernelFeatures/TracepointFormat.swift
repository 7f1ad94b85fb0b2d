import BPFKit
import Foundation

/// The layout of a tracepoint's record, from tracefs `events/<subsystem>/<event>/format`.
///
/// Tetragon's `tracepoints:` args name fields by position in this list (common fields
/// included: `raw_syscalls/sys_enter` field 4 is `id`), so the policy engine and
/// `vigil policy explain` resolve an index to its offset, size and C type here.
public struct TracepointFormat: Sendable, Equatable {
    public struct Field: Sendable, Equatable {
        /// The C declaration, e.g. `const char * filename`.
        public let declaration: String
        public let name: String
        public let offset: Int
        public let size: Int
        public let isSigned: Bool
        /// Whether the declaration is a pointer (e.g. a user-space string).
        public var isPointer: Bool { declaration.contains("*") }

        public init(declaration: String, offset: Int, size: Int, isSigned: Bool) {
            self.declaration = declaration
            // The name is the last identifier, before any array suffix: "char comm[16]" -> comm.
            let beforeBracket = declaration.split(separator: "[").first.map(String.init) ?? declaration
            self.name = beforeBracket.split(whereSeparator: { $0 == " " || $0 == "*" }).last.map(String.init) ?? declaration
            self.offset = offset
            self.size = size
            self.isSigned = isSigned
        }
    }

    public init(subsystem: String, event: String, id: Int, fields: [Field]) {
        self.subsystem = subsystem
        self.event = event
        self.id = id
        self.fields = fields
    }

    public let subsystem: String
    public let event: String
    public let id: Int
    public let fields: [Field]

    /// Parses the text of a format file; nil when it is not one.
    public init?(subsystem: String, event: String, text: String) {
        var id = -1
        var fields: [Field] = []
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("ID:") {
                id = Int(line.dropFirst(3).trimmingCharacters(in: .whitespaces)) ?? -1
                continue
            }
            guard line.hasPrefix("field:") else { continue }
            // field:const char * filename;\toffset:24;\tsize:8;\tsigned:0;
            var decl = ""
            var offset = -1
            var size = -1
            var signed = false
            for part in line.split(separator: ";") {
                let p = part.trimmingCharacters(in: .whitespaces)
                if p.hasPrefix("field:") {
                    decl = String(p.dropFirst(6))
                } else if p.hasPrefix("offset:") {
                    offset = Int(p.dropFirst(7)) ?? -1
                } else if p.hasPrefix("size:") {
                    size = Int(p.dropFirst(5)) ?? -1
                } else if p.hasPrefix("signed:") {
                    signed = p.dropFirst(7) == "1"
                }
            }
            guard offset >= 0, size >= 0, !decl.isEmpty else { return nil }
            fields.append(Field(declaration: decl, offset: offset, size: size, isSigned: signed))
        }
        guard id >= 0, !fields.isEmpty else { return nil }
        self.subsystem = subsystem
        self.event = event
        self.id = id
        self.fields = fields
    }

    /// Reads the running kernel's format (tracefs is mounted on demand); nil when the
    /// tracepoint does not exist.
    public static func load(subsystem: String, event: String) -> TracepointFormat? {
        _ = try? KernelFilesystems.ensureMounted(KernelFilesystems.tracefs)
        guard let text = readTextFile("/sys/kernel/tracing/events/\(subsystem)/\(event)/format") else { return nil }
        return TracepointFormat(subsystem: subsystem, event: event, text: text)
    }
}
