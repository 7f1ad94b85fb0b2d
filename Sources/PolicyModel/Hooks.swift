/// One argument a hook records or filters on.
public struct HookArg: Sendable, Equatable {
    public var index: UInt32
    public var type: ArgType
    public var label: String?
    /// A BTF path to follow from the argument (e.g. `f_path.dentry.d_name.name`).
    public var resolve: String?
    public var maxData: Bool = false
    public var returnCopy: Bool = false
    public var sizeArgIndex: UInt32?
    /// Where data args come from (`current_task`); data only.
    public var source: String?
    public var btfType: String?
    public var btfTypeModule: String?
    public init(index: UInt32, type: ArgType) {
        self.index = index
        self.type = type
    }
}

/// Fields every hook kind shares.
public struct HookCommon: Sendable, Equatable {
    public var args: [HookArg] = []
    public var selectors: [Selector] = []
    /// Shown in events (at most 256 characters).
    public var message: String?
    /// Attached to events (at most 16).
    public var tags: [String] = []
    public init() {}
}

/// A kernel function hook (`kprobes:` or `fentries:`).
public struct KProbeSpec: Sendable, Equatable {
    public var call: String
    /// Whether `call` names a syscall (Tetragon's CRD default: true).
    public var syscall = true
    public var isReturn = false
    public var common = HookCommon()
    public var data: [HookArg] = []
    public var returnArg: HookArg?
    public var returnArgAction: ActionKind?
    /// Load the policy even if the function does not exist on this kernel.
    public var ignoreCallNotFound = false
    public init(call: String) { self.call = call }
}

/// A tracepoint hook.
public struct TracepointSpec: Sendable, Equatable {
    public var subsystem: String
    public var event: String
    /// Attach as a raw tracepoint (arguments are the tracepoint's C arguments).
    public var raw = false
    public var common = HookCommon()
    public init(subsystem: String, event: String) {
        self.subsystem = subsystem
        self.event = event
    }
}

/// A BPF-LSM hook (name without the `security_` prefix, e.g. `file_open`).
public struct LSMHookSpec: Sendable, Equatable {
    public var hook: String
    public var common = HookCommon()
    public init(hook: String) { self.hook = hook }
}

/// A user-space function hook.
public struct UProbeSpec: Sendable, Equatable {
    public var path: String
    public var symbols: [String] = []
    public var offsets: [UInt64] = []
    public var refCtrOffsets: [UInt64] = []
    public var addrs: [UInt64] = []
    /// Tetragon's option to probe a container's own copy of the binary.
    public var resolvePathInContainer = false
    public var common = HookCommon()
    public init(path: String) { self.path = path }
}

/// A USDT (user static tracepoint) hook.
public struct USDTSpec: Sendable, Equatable {
    public var path: String
    public var provider: String
    public var name: String
    public var common = HookCommon()
    public init(path: String, provider: String, name: String) {
        self.path = path
        self.provider = provider
        self.name = name
    }
}
