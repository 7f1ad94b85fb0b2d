import PolicyModel

/// One reason a policy will not load, at its place in the file.
public struct PolicyRefusal: Sendable, Equatable, CustomStringConvertible {
    public let location: SourceLocation?
    /// The YAML path the reason is about (`spec.kprobes[0].selectors[1].matchArgs[0]`).
    public let path: String?
    public let message: String
    /// The reason is this kernel's (no tier can host the hook here); another kernel may load it.
    public let kernelDependent: Bool

    /// `FILE:LINE:COL: error: MESSAGE`, as compilers print, so editors jump to it.
    public var description: String {
        (location.map { "\($0): " } ?? "") + "error: " + message
    }
}

/// What `vigil policy validate` says beyond the YAML's own checks: the compiler's refusals
/// on a kernel with every feature (KernelProfiles.complete), each positioned. What it
/// accepts, every kernel loads or refuses only for a reason of that kernel (the property
/// test checks it on the CI kernels' profiles); what it refuses, no kernel loads.
public enum PolicyValidator {
    public static func refusals(_ policy: TracingPolicy, environment: KernelEnvironment = KernelProfiles.complete) -> [PolicyRefusal] {
        guard case .failure(let e) = PolicyCompiler.compile(policy, firstHookID: 1, environment: environment) else { return [] }
        return e.reasons.filter { !$0.isKernelDependent }.map { positioned($0, in: policy) }
    }

    /// What the policy asks that Vigil accepts but does not collect (stack traces, IMA hashes).
    public static func notCollected(_ policy: TracingPolicy) -> [String] { PolicyScope.notCollected(policy) }

    /// Every reason of a failed load, positioned in the policy's file.
    public static func positioned(_ error: PolicyLoadError, in policy: TracingPolicy) -> [PolicyRefusal] {
        error.reasons.map { positioned($0, in: policy) }
    }

    static func positioned(_ e: EngineError, in policy: TracingPolicy) -> PolicyRefusal {
        let path = e.yamlPath
        let location = path.flatMap { policy.positions.location(of: $0) } ?? policy.location
        return PolicyRefusal(location: location, path: path, message: e.summary, kernelDependent: e.isKernelDependent)
    }
}

extension EngineError {
    /// Whether the reason is the kernel's (no tier here, the kernel refused a program).
    public var isKernelDependent: Bool {
        switch self {
        case .unsupported: false
        case .unplaceable, .kernel, .ignored: true
        }
    }

    /// The YAML path a reason starts with (`spec.kprobes[0] (kprobe x).selectors[0]: ...` ->
    /// `spec.kprobes[0].selectors[0]`), nil when it names none.
    public var yamlPath: String? {
        let text: String
        switch self {
        case .unsupported(let why): text = why
        case .unplaceable(let hook, _), .kernel(let hook, _), .ignored(let hook, _): text = hook
        }
        // up to the first ": " outside parentheses, without the parenthesised descriptions
        var out = ""
        var depth = 0
        var chars = Array(text)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "(" {
                depth += 1
            } else if c == ")" {
                depth = max(0, depth - 1)
            } else if depth == 0 {
                if c == ":" && (i + 1 == chars.count || chars[i + 1] == " ") { break }
                if c != " " || (i + 1 < chars.count && chars[i + 1] != "(") { out.append(c) }
            }
            i += 1
        }
        chars = []
        let path = out.trimmingCharacters(in: .whitespaces)
        guard path.hasPrefix("spec") || path.hasPrefix("metadata") || path == "kind" || path.hasPrefix("kind") else { return nil }
        return path.hasPrefix("kind") ? "kind" : path
    }
}
