/// The type of a hook argument, which says how the kernel side reads it and which
/// selector operators apply. Spellings are Tetragon's (`pkg/k8s/apis/cilium.io/v1alpha1/types.go`).
public enum ArgType: String, PolicyEnum {
    case auto
    case int, int8, int16, int32, int64, uint8, uint16, uint32, uint64
    case sizeT = "size_t"
    case long, ulong
    case string
    case charBuf = "char_buf"
    case charIovec = "char_iovec"
    case constBuf = "const_buf"
    case fd, file, filename, path, dentry
    case linuxBinprm = "linux_binprm"
    case sock, socket, sockaddr
    case sockaddrUn = "sockaddr_un"
    case skb
    case netDevice = "net_device"
    case nop
    case bpfAttr = "bpf_attr"
    case bpfCmd = "bpf_cmd"
    case bpfMap = "bpf_map"
    case bpfProg = "bpf_prog"
    case perfEvent = "perf_event"
    case capability
    case kernelCapT = "kernel_cap_t"
    case capInheritable = "cap_inheritable"
    case capPermitted = "cap_permitted"
    case capEffective = "cap_effective"
    case cred
    case userNamespace = "user_namespace"
    case kiocb
    case iovIter = "iov_iter"
    case loadInfo = "load_info"
    case module
    case syscall64
    case dataLoc = "data_loc"

    /// How selector operators see the argument.
    public enum Family: Sendable, Equatable {
        case integer, string, path, socket, sockaddr, sockaddrUnix, syscallID, other
    }

    public var family: Family {
        switch self {
        case .int, .int8, .int16, .int32, .int64, .uint8, .uint16, .uint32, .uint64, .sizeT, .long, .ulong,
            .capability, .kernelCapT, .capInheritable, .capPermitted, .capEffective, .bpfCmd:
            .integer
        case .string, .charBuf, .charIovec, .constBuf, .dataLoc, .netDevice: .string  // net_device compares its name
        case .fd, .file, .filename, .path, .dentry, .linuxBinprm: .path
        case .sock, .socket, .skb: .socket
        case .sockaddr: .sockaddr
        case .sockaddrUn: .sockaddrUnix
        case .syscall64: .syscallID
        default: .other
        }
    }

    /// Whether the value is a byte buffer whose length may come from another argument.
    public var isBuffer: Bool { self == .charBuf || self == .charIovec }
}
