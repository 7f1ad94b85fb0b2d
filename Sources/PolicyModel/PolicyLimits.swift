/// Every limit Vigil enforces on a policy, in one table. Where Vigil differs from
/// Tetragon the comment says so; nothing is ever truncated silently: a policy over a
/// limit is rejected with the limit named.
public enum PolicyLimits {
    /// Selectors per hook (Tetragon: 5).
    public static let selectorsPerHook = 5
    /// Arguments recorded per hook (Tetragon: 5).
    public static let argsPerHook = 5
    /// Highest argument index of a kernel function (x86-64 passes 6 in registers).
    public static let maxFunctionArgIndex: UInt32 = 5
    /// matchArgs entries per selector (Tetragon: 5, one per argument).
    public static let matchArgsPerSelector = 5
    /// Actions per selector (Tetragon's BPF runs 2; Vigil's runs up to 4).
    public static let actionsPerSelector = 4
    /// matchBinaries / matchParentBinaries entries per selector (Tetragon: 1).
    public static let binaryFiltersPerSelector = 1
    /// matchBinaries entries with followChildren per selector, beside the plain one (a Vigil
    /// extension: "perl, but not under apt" needs both; Tetragon takes one entry in all).
    public static let followedBinaryFiltersPerSelector = 1
    /// Values per matchBinaries entry (map-backed).
    public static let valuesPerBinaryFilter = 1024
    /// Values per matchArgs entry (map-backed for strings, addresses and ports).
    public static let valuesPerArgFilter = 1024
    /// PIDs per matchPIDs entry (Tetragon: 4; Vigil: 16).
    public static let valuesPerPIDFilter = 16
    /// Bytes in a Prefix value (Tetragon: 256).
    public static let prefixBytes = 256
    /// Bytes in a Postfix value (Tetragon: 127; Vigil: 256).
    public static let postfixBytes = 256
    /// Bytes in an Equal/NotEqual string value and in a binary path (Tetragon: 4096 on 5.11+).
    public static let stringBytes = 4096
    /// Bytes in a SubString value (Tetragon: 100).
    public static let substringBytes = 100
    /// Characters in a hook message (Tetragon: 256).
    public static let messageLength = 256
    /// Tags per hook (Tetragon: 16), and characters per tag.
    public static let tagsPerHook = 16
    public static let tagLength = 128
    /// Size of a policy file (Kubernetes stores objects up to about 1.5 MB).
    public static let fileBytes = 4 * 1024 * 1024
}
