import CVigilABI

/// What a selector does when it matches (matchActions / matchReturnActions).
public enum ActionKind: String, PolicyEnum {
    case post = "Post"
    case noPost = "NoPost"
    case sigkill = "Sigkill"
    case signal = "Signal"
    case override = "Override"
    case followFD = "FollowFD"
    case unfollowFD = "UnfollowFD"
    case copyFD = "CopyFD"
    case getURL = "GetUrl"
    case dnsLookup = "DnsLookup"
    case trackSock = "TrackSock"
    case untrackSock = "UntrackSock"
    case notifyEnforcer = "NotifyEnforcer"
    case cleanupEnforcerNotification = "CleanupEnforcerNotification"
    case set = "Set"

    /// Actions that change what the process experiences; `policy-mode: monitor` turns them into Post.
    public var enforces: Bool { [.sigkill, .signal, .override, .notifyEnforcer, .set].contains(self) }

    /// The kernel's action (vigil_concepts.h VIGIL_ACT_LIST); nil: not run by Vigil (the policy
    /// is refused with `notRunBecause`).
    public var kernelCode: UInt32? {
        switch self {
        case .post: VIGIL_ACT_POST
        case .noPost: VIGIL_ACT_NOPOST
        case .sigkill: VIGIL_ACT_SIGKILL
        case .signal: VIGIL_ACT_SIGNAL
        case .override: VIGIL_ACT_OVERRIDE
        case .trackSock: VIGIL_ACT_TRACK_SOCK
        case .untrackSock: VIGIL_ACT_UNTRACK_SOCK
        case .getURL: VIGIL_ACT_GET_URL
        case .dnsLookup: VIGIL_ACT_DNS_LOOKUP
        case .followFD, .unfollowFD, .copyFD, .notifyEnforcer, .cleanupEnforcerNotification, .set: nil
        }
    }

    /// Why Vigil does not run this action.
    public var notRunBecause: String? {
        switch self {
        case .followFD, .unfollowFD, .copyFD: "\(rawValue) is deprecated upstream and not run by Vigil (fd arguments are resolved to their file directly)"
        case .notifyEnforcer, .cleanupEnforcerNotification: "\(rawValue) needs spec.enforcers, which Vigil does not run (its hooks enforce themselves)"
        case .set: "Set writes USDT arguments, and Vigil does not attach USDT probes"
        default: nil
        }
    }

    /// Deprecated upstream as unsafe; accepted for compatibility.
    public var isDeprecated: Bool { [.followFD, .unfollowFD, .copyFD].contains(self) }
}

/// Whose events a Post rate limit counts together.
public enum RateLimitScope: String, PolicyEnum {
    case thread, process, global
}

/// One action with its parameters. Fields a kind does not use stay nil.
public struct Action: Sendable, Equatable {
    public var kind: ActionKind
    public var argError: Int32?
    public var argSig: UInt32?
    public var argFd: UInt32?
    public var argName: UInt32?
    public var argURL: String?
    public var argFQDN: String?
    public var argSock: UInt32?
    /// Post rate limit in seconds (`rateLimit: "1m"` is 60).
    public var rateLimitSeconds: UInt64?
    public var rateLimitScope: RateLimitScope
    public var kernelStackTrace: Bool
    public var userStackTrace: Bool
    public var imaHash: Bool
    /// Set (USDT): which argument, and the value written.
    public var argIndex: UInt32?
    public var argValue: Int64?

    public init(kind: ActionKind) {
        self.kind = kind
        rateLimitScope = .thread
        kernelStackTrace = false
        userStackTrace = false
        imaHash = false
    }
}
