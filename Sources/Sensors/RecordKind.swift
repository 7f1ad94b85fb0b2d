import CVigilABI

/// The kinds of record that arrive from the kernel's ring buffers (the `kind` of
/// `struct vigil_record_header`). THE list on the Swift side: the agent's dispatch switches over
/// it (a new kind does not build until it is handled) and loss reports name kinds by it.
public enum RecordKind: CaseIterable, Sendable {
    case exec, exit, fork, hook, network, dns, flow, fqdn

    /// The C constant (vigil_abi.h, vigil_hook_abi.h, vigil_net_abi.h, vigil_datapath_abi.h).
    public var raw: UInt32 {
        switch self {
        case .exec: VIGIL_RECORD_EXEC
        case .exit: VIGIL_RECORD_EXIT
        case .fork: VIGIL_RECORD_FORK
        case .hook: VIGIL_RECORD_HOOK
        case .network: VIGIL_RECORD_NET
        case .dns: VIGIL_RECORD_DNS
        case .flow: VIGIL_RECORD_FLOW
        case .fqdn: VIGIL_RECORD_FQDN
        }
    }

    /// How a loss of such records is named in a lost_events event.
    public var lossName: String {
        switch self {
        case .exec: "process_exec"
        case .exit: "process_exit"
        case .fork: "process_fork"
        case .hook: "process_hook"
        case .network: "process_network"
        case .dns: "process_dns"
        case .flow: "flow"
        case .fqdn: "fqdn"
        }
    }

    /// Kinds by their C constant (they are small numbers: a table, not a search, per record).
    private static let byRaw: [RecordKind?] = {
        var t = [RecordKind?](repeating: nil, count: Int(VIGIL_RECORD_KIND_MAX))
        for k in allCases { t[Int(k.raw)] = k }
        return t
    }()

    /// The kind with C constant `raw`; nil for a kind this build does not know.
    public init?(raw: UInt32) {
        guard raw < VIGIL_RECORD_KIND_MAX, let k = Self.byRaw[Int(raw)] else { return nil }
        self = k
    }

    /// The kind of the record in `bytes`; nil when it is too short for a header or of an unknown kind.
    public init?(of bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= MemoryLayout<vigil_record_header>.size else { return nil }
        self.init(raw: bytes.loadUnaligned(as: vigil_record_header.self).kind)
    }
}
