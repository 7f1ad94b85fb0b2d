import Synchronization

/// The running kernel's BTF type information.
public enum KernelBTF {
    /// Loads /sys/kernel/btf/vmlinux (or libbpf's fallbacks) to prove BTF is present and
    /// parseable; CO-RE relocation needs it. The corresponding libbpf function is `btf__load_vmlinux_btf`.
    public static func check() throws(BPFError) { Libbpf.freeBTF(try Libbpf.loadVmlinuxBTF()) }

    /// Loaded once on first use and kept: parsing vmlinux BTF costs tens of milliseconds.
    private final class Handle: @unchecked Sendable {
        let btf: OpaquePointer?
        init() { btf = try? Libbpf.loadVmlinuxBTF() }
    }
    private static let shared = Mutex<Handle?>(nil)

    /// Whether the kernel's BTF describes function `name` (fentry, fexit and LSM programs
    /// attach only to functions with BTF). False when the kernel has no BTF.
    public static func hasFunction(_ name: String) -> Bool {
        shared.withLock { handle in
            if handle == nil { handle = Handle() }
            guard let btf = handle!.btf else { return false }
            return Libbpf.btfHasFunction(btf, name)
        }
    }
}
