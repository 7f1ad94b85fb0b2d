import EventJSON
import Export

/// Everything `vigil agent` can be told, from flags or a --config file.
public struct AgentConfiguration: Sendable {
    public var nodeName: String
    public var exportStdout = false
    public var exportFile: String?
    public var exportFileMaxBytes = 10 * 1024 * 1024
    public var exportFileBackups = 5
    public var exportFileCompress = false
    public var filters = ExportFilters()
    public var fieldFilters: [FieldFilter] = []
    public var enableAncestors = false
    /// Per ring buffer, bytes (rounded up to a power of two).
    public var ringBufferBytes = 8 * 1024 * 1024
    public var processCacheSize = 65536
    /// Force classic tracepoints even where tp_btf works (testing the fallback tier).
    public var forceTracepoints = false
    /// Directory of TracingPolicy files (loaded by the policy engine; listed at start).
    public var policyDirectory: String?

    public init(nodeName: String) { self.nodeName = nodeName }
}
