import CYAML

/// Reads YAML text into `YAMLNode` documents with libyaml's event API.
///
/// Strict where Kubernetes is strict: duplicate keys are errors. Guarded against hostile
/// input: nesting depth, alias expansion (billion laughs) and total node count are bounded.
public struct YAMLReader {
    /// Limits that keep any input bounded in time and memory.
    public struct Limits: Sendable {
        public var maxDepth = 64
        public var maxNodes = 1_000_000
        public init() {}
    }

    /// A syntax or structure error with its position.
    public struct Failure: Error, Equatable, Sendable {
        public let mark: SourceMark
        public let message: String
    }

    public let limits: Limits
    public init(limits: Limits = Limits()) { self.limits = limits }

    /// Parses every document in `bytes`. Empty documents are returned as nil entries
    /// so callers can report them with their position.
    public func documents(_ bytes: [UInt8]) throws(Failure) -> [(root: YAMLNode?, start: SourceMark)] {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw Failure(mark: SourceMark(line: 1, column: 1), message: "libyaml could not initialize") }
        defer { yaml_parser_delete(&parser) }
        return try bytes.withUnsafeBufferPointer { buf in
            yaml_parser_set_input_string(&parser, buf.baseAddress, buf.count)
            var builder = Builder(limits: limits, input: buf)
            return Result { () throws(Failure) in try builder.run(&parser) }
        }.get()
    }

    private struct Builder {
        let limits: Limits
        let input: UnsafeBufferPointer<UInt8>
        var anchors: [String: YAMLNode] = [:]
        var nodeCount = 0

        init(limits: Limits, input: UnsafeBufferPointer<UInt8>) {
            self.limits = limits
            self.input = input
        }

        /// Reader (encoding) errors carry a byte offset instead of a mark.
        func markOf(offset: Int) -> SourceMark {
            var line = 1
            var column = 1
            for b in input.prefix(min(offset, input.count)) {
                if b == 10 {
                    line += 1
                    column = 1
                } else if b & 0xC0 != 0x80 {
                    column += 1
                }
            }
            return SourceMark(line: line, column: column)
        }

        mutating func next(_ parser: inout yaml_parser_t) throws(Failure) -> yaml_event_t {
            var event = yaml_event_t()
            if yaml_parser_parse(&parser, &event) != 1 {
                let problem = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
                let c = parser.context_mark
                // The context (e.g. where an unclosed quote started) is often the place to fix.
                let context =
                    parser.context.map {
                        String(cString: $0) + (c.line > 0 || c.column > 0 ? " (started at line \(c.line + 1), column \(c.column + 1))" : "") + ": "
                    } ?? ""
                let m = parser.problem_mark
                let at = parser.error == YAML_READER_ERROR ? markOf(offset: parser.problem_offset) : SourceMark(line: m.line + 1, column: m.column + 1)
                throw Failure(mark: at, message: "YAML syntax error: \(context)\(problem)")
            }
            return event
        }

        mutating func run(_ parser: inout yaml_parser_t) throws(Failure) -> [(root: YAMLNode?, start: SourceMark)] {
            var docs: [(YAMLNode?, SourceMark)] = []
            while true {
                var event = try next(&parser)
                defer { yaml_event_delete(&event) }
                switch event.type {
                case YAML_STREAM_START_EVENT: continue
                case YAML_STREAM_END_EVENT: return docs
                case YAML_DOCUMENT_START_EVENT:
                    anchors = [:]
                    let start = mark(event.start_mark)
                    var first = try next(&parser)
                    let root: YAMLNode?
                    if first.type == YAML_DOCUMENT_END_EVENT {
                        root = nil
                        yaml_event_delete(&first)
                    } else {
                        // Free the root's event whether or not building its node throws
                        // (the fuzzer found this leak: a tagged root with a duplicate key).
                        let built = Result { () throws(Failure) in try self.node(from: &first, parser: &parser, depth: 0) }
                        yaml_event_delete(&first)
                        let node = try built.get()
                        var end = try next(&parser)
                        yaml_event_delete(&end)
                        root = node
                    }
                    docs.append((root?.isNull == true ? nil : root, start))
                default:
                    throw Failure(mark: mark(event.start_mark), message: "unexpected YAML event")
                }
            }
        }

        func mark(_ m: yaml_mark_t) -> SourceMark { SourceMark(line: m.line + 1, column: m.column + 1) }

        func text(_ p: UnsafeMutablePointer<yaml_char_t>?, _ length: Int) -> String {
            guard let p else { return "" }
            return String(decoding: UnsafeBufferPointer(start: p, count: length), as: UTF8.self)
        }

        func cString(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            guard let p else { return nil }
            return String(cString: UnsafeRawPointer(p).assumingMemoryBound(to: CChar.self))
        }

        mutating func count(_ at: SourceMark, _ n: Int = 1) throws(Failure) {
            nodeCount += n
            if nodeCount > limits.maxNodes {
                throw Failure(mark: at, message: "document expands to more than \(limits.maxNodes) nodes (alias bomb?); split it or remove aliases")
            }
        }

        /// Builds the node that starts with `event` (already read).
        mutating func node(from event: inout yaml_event_t, parser: inout yaml_parser_t, depth: Int) throws(Failure) -> YAMLNode {
            let at = mark(event.start_mark)
            if depth > limits.maxDepth {
                throw Failure(mark: at, message: "nesting deeper than \(limits.maxDepth) levels; policies never need this")
            }
            try count(at)
            switch event.type {
            case YAML_ALIAS_EVENT:
                let name = cString(event.data.alias.anchor) ?? ""
                guard let target = anchors[name] else { throw Failure(mark: at, message: "unknown alias *\(name)") }
                try count(at, target.weight)  // the expansion counts in full
                return YAMLNode(target.value, at: at, tag: target.tag)
            case YAML_SCALAR_EVENT:
                let s = event.data.scalar
                let style: YAMLNode.Style =
                    switch s.style {
                    case YAML_SINGLE_QUOTED_SCALAR_STYLE, YAML_DOUBLE_QUOTED_SCALAR_STYLE: .quoted
                    case YAML_LITERAL_SCALAR_STYLE, YAML_FOLDED_SCALAR_STYLE: .block
                    default: .plain
                    }
                let built = YAMLNode(.scalar(text(s.value, s.length), style), at: at, tag: cString(s.tag))
                if let anchor = cString(s.anchor) { anchors[anchor] = built }
                return built
            case YAML_SEQUENCE_START_EVENT:
                let anchor = cString(event.data.sequence_start.anchor)
                let tag = cString(event.data.sequence_start.tag)
                var items: [YAMLNode] = []
                while true {
                    var e = try next(&parser)
                    if e.type == YAML_SEQUENCE_END_EVENT {
                        yaml_event_delete(&e)
                        break
                    }
                    let child = Result { () throws(Failure) in try node(from: &e, parser: &parser, depth: depth + 1) }
                    yaml_event_delete(&e)
                    items.append(try child.get())
                }
                let built = YAMLNode(.sequence(items), at: at, tag: tag)
                if let anchor { anchors[anchor] = built }
                return built
            case YAML_MAPPING_START_EVENT:
                let anchor = cString(event.data.mapping_start.anchor)
                let tag = cString(event.data.mapping_start.tag)
                var pairs: [(key: YAMLNode, value: YAMLNode)] = []
                var merged: [(key: YAMLNode, value: YAMLNode)] = []
                var seen: [String: SourceMark] = [:]
                while true {
                    var ke = try next(&parser)
                    if ke.type == YAML_MAPPING_END_EVENT {
                        yaml_event_delete(&ke)
                        break
                    }
                    let key = Result { () throws(Failure) in try node(from: &ke, parser: &parser, depth: depth + 1) }
                    yaml_event_delete(&ke)
                    let k = try key.get()
                    var ve = try next(&parser)
                    let value = Result { () throws(Failure) in try node(from: &ve, parser: &parser, depth: depth + 1) }
                    yaml_event_delete(&ve)
                    let v = try value.get()
                    if k.scalar == "<<", case .plain? = k.plainStyle {
                        // YAML 1.1 merge key: explicit keys of this mapping win over merged ones.
                        switch v.value {
                        case .mapping(let m): merged += m
                        case .sequence(let list):
                            for item in list {
                                guard case .mapping(let m) = item.value else {
                                    throw Failure(mark: item.mark, message: "a << merge list must hold mappings")
                                }
                                merged += m
                            }
                        default: throw Failure(mark: v.mark, message: "a << merge value must be a mapping or a list of mappings")
                        }
                        continue
                    }
                    if let name = k.scalar {
                        if let first = seen[name] {
                            throw Failure(mark: k.mark, message: "duplicate key \"\(name)\" (first at line \(first.line), column \(first.column)); keep one")
                        }
                        seen[name] = k.mark
                    }
                    pairs.append((k, v))
                }
                for m in merged where m.key.scalar.map({ seen[$0] == nil }) ?? true {
                    if let name = m.key.scalar { seen[name] = m.key.mark }
                    pairs.append(m)
                }
                let built = YAMLNode(.mapping(pairs), at: at, tag: tag)
                if let anchor { anchors[anchor] = built }
                return built
            default:
                throw Failure(mark: at, message: "unexpected YAML event")
            }
        }
    }
}

extension YAMLNode {
    var plainStyle: Style? {
        if case .scalar(_, let s) = value { return s }
        return nil
    }
}
