import BPFKit
import PolicyModel

/// Why a policy, or one of its hooks, does not run.
public enum EngineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The policy asks for something the engine does not do in the kernel (yet), with the reason.
    case unsupported(String)
    /// No tier of this kernel can host the hook; each tier tried, with what it lacks.
    case unplaceable(hook: String, tried: [String])
    /// The kernel refused the hook's program, maps or attachment.
    case kernel(hook: String, error: BPFError)
    /// The policy says to skip this hook where the kernel lacks its function
    /// (`ignore: {callNotFound: true}`): reported, never a reason to refuse the policy.
    case ignored(hook: String, why: String)

    /// Whether this reason refuses the policy (an ignored hook does not).
    public var refuses: Bool {
        if case .ignored = self { return false }
        return true
    }

    public var description: String {
        switch self {
        case .unsupported(let why): why
        case .unplaceable(let hook, let tried):
            "\(hook): no hook tier of this kernel can host it (" + (tried.isEmpty ? "none applies" : tried.joined(separator: "; ")) + ")"
        case .kernel(let hook, let error): "\(hook): \(error)"
        case .ignored(let hook, let why): "\(hook): skipped as the policy asks (\(why))"
        }
    }

    /// The first line (verifier logs are long), for tables and summaries.
    public var summary: String {
        switch self {
        case .kernel(let hook, let error): "\(hook): \(error.operation) failed: \(error.errnoName)"
        default: description
        }
    }
}

/// A policy that could not be loaded: every reason, by hook, and where the file is.
public struct PolicyLoadError: Error, Sendable, CustomStringConvertible {
    public let policy: String
    public let file: String
    public let reasons: [EngineError]
    /// The function whose fentry/fexit program the kernel refused (the loader may retry it as a kprobe).
    public var trampolineSymbol: String? = nil
    /// Where each reason is in the policy's file (FILE:LINE:COL), when the policy came from one.
    public var locations: [SourceLocation?] = []
    public init(policy: String, file: String, reasons: [EngineError]) {
        self.policy = policy
        self.file = file
        self.reasons = reasons
    }
    public var description: String {
        "policy \(policy) (\(file)) not loaded:\n"
            + reasons.enumerated().map { i, r in
                let at = i < locations.count ? locations[i].map { "\($0): " } ?? "" : ""
                return "  - \(at)\(r)"
            }.joined(separator: "\n")
    }
}
