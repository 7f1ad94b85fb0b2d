import PolicyModel

/// Alternative forms of one detection. Policies in one file that carry the same
/// `vigil.io/detection` label are the same detection written for different hook tiers (say
/// BPF-LSM and a syscall tracepoint); the agent loads the first, in file order, that this
/// kernel can host, and only that one. Tetragon ignores the label, so each form stays a valid
/// TracingPolicy on its own.
public enum PolicyForms {
    public static let label = "vigil.io/detection"

    /// The file's policies in load units: the forms of one detection together (file order),
    /// every unlabelled policy on its own.
    public static func groups(_ policies: [TracingPolicy]) -> [[TracingPolicy]] {
        var out: [[TracingPolicy]] = []
        var index: [String: Int] = [:]
        for p in policies {
            guard let d = p.labels[label] else {
                out.append([p])
                continue
            }
            if let i = index[d] {
                out[i].append(p)
            } else {
                index[d] = out.count
                out.append([p])
            }
        }
        return out
    }

    /// The form `vigil policy explain` predicts for the running kernel: the first that compiles
    /// (the verifier may still refuse it; `vigil policy try` loads for real), with why each
    /// earlier form does not.
    public static func predict(_ group: [TracingPolicy], environment: KernelEnvironment = .running) -> (
        chosen: TracingPolicy?, refused: [(TracingPolicy, PolicyLoadError)]
    ) {
        var refused: [(TracingPolicy, PolicyLoadError)] = []
        for p in group {
            switch PolicyCompiler.compile(p, firstHookID: 1, environment: environment) {
            case .success: return (p, refused)
            case .failure(let e): refused.append((p, e))
            }
        }
        return (nil, refused)
    }
}
