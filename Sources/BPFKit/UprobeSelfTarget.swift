import CBPFShim

/// A C function of the running executable (CBPFShim's `vigil_uprobe_probe_target`) that a
/// uprobe can attach to: the uprobe feature probe and the kernel tests use it, so neither
/// depends on a system binary's symbols.
public enum UprobeSelfTarget {
    /// The running executable, as the kernel resolves it for the attaching process.
    public static let binary = "/proc/self/exe"
    public static let symbol = "vigil_uprobe_probe_target"

    /// Calls the function (it returns x + 1). Also keeps the linker from dropping it.
    @discardableResult
    public static func call(_ x: Int32 = 0) -> Int32 { vigil_uprobe_probe_target(x) }
}
