import Foundation

/// The agent's open-file limit, raised to the hard limit at start: every loaded hook keeps
/// descriptors open (its program, link and maps, about five), and libbpf opens kernel BTF
/// objects while it loads one. The whole library is about 170 hooks, past the soft limit of
/// 1024 that init systems commonly give a service (systemd's default is soft 1024, hard
/// 524288; a busybox init leaves 1024): the agent then failed with EMFILE part-way through
/// its policies. Go programs (Tetragon, Cilium) get the same raise from their runtime.
enum DescriptorLimit {
    /// Raises the soft limit to the hard one; returns (before, after).
    @discardableResult
    static func raiseToHard() -> (before: UInt64, after: UInt64) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (0, 0) }
        let before = UInt64(limit.rlim_cur)
        guard limit.rlim_cur < limit.rlim_max else { return (before, before) }
        var raised = limit
        raised.rlim_cur = limit.rlim_max
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 else { return (before, before) }
        return (before, UInt64(raised.rlim_cur))
    }
}
