import CVigilABI
import KernelFeatures
import PolicyModel

/// Where a sockaddr_un argument's length is. An abstract socket name is exactly as long as the
/// caller's address length says and need not end with a NUL, so the reader needs that length
/// (bpf/include/hook_args.h read_sockaddr_un); a policy may name it with `sizeArgIndex`.
enum SockaddrLength {
    /// Syscall tracepoint fields holding the address length, by name.
    static let tracepointFields: Set<String> = ["addrlen", "addr_len"]

    /// Functions (kprobe/fentry/LSM names) whose address argument is followed by its length.
    static let lengthFollowsAddress: Set<String> = [
        "socket_connect", "socket_bind", "security_socket_connect", "security_socket_bind",
        "__sys_connect", "__sys_bind", "__sys_sendto", "sys_connect", "sys_bind", "sys_sendto",
    ]

    /// `size_arg` (1 + the tracepoint field's offset) for a syscall tracepoint's address field.
    static func tracepoint(format: TracepointFormat) -> UInt32 {
        format.fields.first { tracepointFields.contains($0.name) }.map { UInt32($0.offset) + 1 } ?? 0
    }

    /// `size_arg` (1 + the argument's index) for a function hook's address argument.
    static func function(_ function: String, argument a: HookArg) -> UInt32 {
        if let s = a.sizeArgIndex, s > 0 { return s }  // Tetragon's sizeArgIndex is 1-based
        let bare = function.replacingOccurrences(of: "__x64_", with: "").replacingOccurrences(of: "__ia32_", with: "")
        return lengthFollowsAddress.contains(bare) ? a.index + 2 : 0
    }
}
