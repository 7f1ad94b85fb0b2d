/// The running kernel's BTF type information.
public enum KernelBTF {
    /// Loads /sys/kernel/btf/vmlinux (or libbpf's fallbacks) to prove BTF is present and
    /// parseable; CO-RE relocation needs it. The corresponding libbpf function is `btf__load_vmlinux_btf`.
    public static func check() throws(BPFError) { try Libbpf.loadVmlinuxBTF() }
}
