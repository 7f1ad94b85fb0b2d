import AgentCore
import CVigilABI
import PolicyModel

/// One policy hook compiled for the running kernel: which program, where it attaches, its
/// frozen configuration and value sets, and what is needed to turn its records into
/// events. Pure data: building it never touches the kernel (`HookProgram` loads it).
public struct HookPlan: @unchecked Sendable {
    public var policyName: String
    /// e.g. `spec.kprobes[0]`.
    public var hookPath: String
    /// e.g. `kprobe fd_install`, for messages and `vigil policy list`.
    public var hookName: String
    public var family: HookEvent.Family
    public var flavour: HookFlavour
    public var attach: AttachPoint
    /// JSON `function_name` (kprobes: the symbol; lsm: the hook) or tracepoint subsystem/event.
    public var functionName: String
    public var subsystem = ""
    public var event = ""
    /// uprobes: the probed binary or library, as the policy names it (JSON `path`), and the
    /// file offset for a uprobe placed by offset rather than symbol (JSON `offset`).
    public var path = ""
    public var offset: UInt64? = nil
    public var config: vigil_hook_config
    public var sets: ValueSets
    /// The files the hook's filters name exactly, matched by identity too (FileIdentitySet).
    public var identities = FileIdentitySet()
    /// matchBinaries followChildren: the binary lists of the selectors that follow one, in the
    /// order their `follow` field numbers them (1 + index) until the loader writes the slot.
    public var follows: [[String]] = []
    /// Per recorded slot: the policy argument and its layout (for decoding).
    public var slots: [(arg: HookArg, layout: ArgumentLayout)]
    public var returnArg: (arg: HookArg, layout: ArgumentLayout)?
    /// A non-integer return value (a pointer the kernel reads, e.g. a struct sock *) is read
    /// into this slot like an argument.
    public var returnSlot: Int? = nil
    public var message: String?
    public var tags: [String]
    /// Per selector: what the agent carries out for a record that selector posted (GetUrl, DnsLookup).
    public var userActions: [[UserSpaceAction]] = []

    /// Whether the hook reads or writes the tracked sockets (a socket argument, TrackSock or
    /// UntrackSock): it then shares the agent's one map of them.
    public var usesTrackedSockets: Bool {
        config.owner_slot != 0
            || (0..<max(1, Int(config.nselectors))).contains { i in
                let sel = element(config.selectors, i, as: vigil_selector.self)
                return (0..<Int(sel.nactions)).contains {
                    let kind = element(sel.actions, $0, as: vigil_action.self).kind
                    return kind == VIGIL_ACT_TRACK_SOCK || kind == VIGIL_ACT_UNTRACK_SOCK
                }
            }
    }

    /// Whether a selector tests a file the kernel resolves (VIGIL_STAT_RESOLVES counts its walks).
    public var resolvesFiles: Bool {
        config.nselectors > 0
            && (0..<Int(config.nargs)).contains { i in
                let spec = element(config.args, i, as: vigil_arg_spec.self)
                return spec.flags & VIGIL_ARGF_FILTERED != 0 && ArgumentLayout.resolvedFileKinds.contains(spec.kind)
            }
    }

    /// Whether any selector's Post has a rate limit (the hook then needs its LRU map).
    public var usesRateLimit: Bool {
        (0..<Int(config.nselectors)).contains { i in
            let sel = element(config.selectors, i, as: vigil_selector.self)
            return (0..<Int(sel.nactions)).contains { element(sel.actions, $0, as: vigil_action.self).rate_ns > 0 }
        }
    }
}
