import CVigilABI
import KernelFeatures
import PolicyModel

/// How a policy argument type is read in the kernel (the VIGIL_ARG_* kind, width and
/// signedness) and how it is shown in events. The one table mapping `ArgType` to the BPF
/// side; bpf/include/hook_args.h has the readers.
public struct ArgumentLayout: Sendable, Equatable {
    public var kind: UInt32
    public var size: UInt32
    public var signed: Bool
    /// How the decoded value is presented (Tetragon's arg names).
    public var presentation: Presentation

    public enum Presentation: Sendable, Equatable {
        case int, uint, size, long, capability, string, bytes, file, path, linuxBinprm, sock, sockaddr, sockaddrUn, cred, skb, netDevice, module, userNamespace
    }

    /// Every argument kind the kernel reads (vigil_concepts.h VIGIL_ARG_KIND_LIST), as the
    /// compiler emits them; ABIConceptTests checks the two lists are the same.
    public static let kernelKinds: [UInt32] = [
        VIGIL_ARG_NONE, VIGIL_ARG_INT, VIGIL_ARG_STRING, VIGIL_ARG_BUFFER, VIGIL_ARG_FILE, VIGIL_ARG_PATH, VIGIL_ARG_FD, VIGIL_ARG_BINPRM,
        VIGIL_ARG_DENTRY, VIGIL_ARG_INLINE, VIGIL_ARG_DATA_LOC, VIGIL_ARG_SOCK, VIGIL_ARG_CRED, VIGIL_ARG_SOCKADDR, VIGIL_ARG_SOCKET,
        VIGIL_ARG_SKB, VIGIL_ARG_NETDEV, VIGIL_ARG_KIOCB, VIGIL_ARG_MODULE, VIGIL_ARG_USER_NS, VIGIL_ARG_SOCKADDR_UN, VIGIL_ARG_PATHNAME,
        VIGIL_ARG_VMA, VIGIL_ARG_ADDR_FILE,
    ]

    /// Kinds the kernel resolves to a file (bpf/include/hook_filters.h is_resolved_file): its
    /// global path and identity, walked only once the other filters allow a match.
    public static let resolvedFileKinds: Set<UInt32> = [
        VIGIL_ARG_FILE, VIGIL_ARG_PATH, VIGIL_ARG_FD, VIGIL_ARG_BINPRM, VIGIL_ARG_DENTRY, VIGIL_ARG_KIOCB, VIGIL_ARG_PATHNAME,
        VIGIL_ARG_VMA, VIGIL_ARG_ADDR_FILE,
    ]

    /// Kinds only the compiler's lowerings produce (not a policy type's own layout): tracepoint
    /// char arrays, resolved syscall pathnames, an mprotect'ed mapping's file.
    public static let loweringKinds: Set<UInt32> = [VIGIL_ARG_INLINE, VIGIL_ARG_PATHNAME, VIGIL_ARG_VMA, VIGIL_ARG_ADDR_FILE]

    static func integer(_ size: UInt32, signed: Bool, _ p: Presentation) -> ArgumentLayout {
        ArgumentLayout(kind: VIGIL_ARG_INT, size: size, signed: signed, presentation: p)
    }

    /// The layout of a function (kprobe, fentry, LSM) argument of `type`, or why Vigil cannot read it.
    public static func forFunction(_ type: ArgType) -> Result<ArgumentLayout, UnsupportedArgument> {
        switch type {
        case .int, .int32: .success(.integer(4, signed: true, .int))
        case .int8: .success(.integer(1, signed: true, .int))
        case .int16: .success(.integer(2, signed: true, .int))
        case .uint8: .success(.integer(1, signed: false, .uint))
        case .uint16: .success(.integer(2, signed: false, .uint))
        case .uint32: .success(.integer(4, signed: false, .uint))
        case .int64, .long: .success(.integer(8, signed: true, .long))
        case .uint64, .sizeT, .ulong, .syscall64: .success(.integer(8, signed: false, .size))
        case .capability: .success(.integer(4, signed: true, .capability))
        case .bpfCmd: .success(.integer(4, signed: true, .int))
        case .kernelCapT, .capInheritable, .capPermitted, .capEffective: .success(.integer(8, signed: false, .uint))
        case .string: .success(ArgumentLayout(kind: VIGIL_ARG_STRING, size: 8, signed: false, presentation: .string))
        case .charBuf: .success(ArgumentLayout(kind: VIGIL_ARG_BUFFER, size: 8, signed: false, presentation: .bytes))
        case .fd: .success(ArgumentLayout(kind: VIGIL_ARG_FD, size: 4, signed: true, presentation: .file))
        case .file: .success(ArgumentLayout(kind: VIGIL_ARG_FILE, size: 8, signed: false, presentation: .file))
        case .path: .success(ArgumentLayout(kind: VIGIL_ARG_PATH, size: 8, signed: false, presentation: .path))
        case .dentry: .success(ArgumentLayout(kind: VIGIL_ARG_DENTRY, size: 8, signed: false, presentation: .path))
        case .linuxBinprm: .success(ArgumentLayout(kind: VIGIL_ARG_BINPRM, size: 8, signed: false, presentation: .linuxBinprm))
        case .sock: .success(ArgumentLayout(kind: VIGIL_ARG_SOCK, size: 8, signed: false, presentation: .sock))
        case .socket: .success(ArgumentLayout(kind: VIGIL_ARG_SOCKET, size: 8, signed: false, presentation: .sock))
        case .sockaddr: .success(ArgumentLayout(kind: VIGIL_ARG_SOCKADDR, size: 8, signed: false, presentation: .sockaddr))
        case .sockaddrUn: .success(ArgumentLayout(kind: VIGIL_ARG_SOCKADDR_UN, size: 8, signed: false, presentation: .sockaddrUn))
        case .cred: .success(ArgumentLayout(kind: VIGIL_ARG_CRED, size: 8, signed: false, presentation: .cred))
        case .skb: .success(ArgumentLayout(kind: VIGIL_ARG_SKB, size: 8, signed: false, presentation: .skb))
        case .netDevice: .success(ArgumentLayout(kind: VIGIL_ARG_NETDEV, size: 8, signed: false, presentation: .netDevice))
        case .kiocb: .success(ArgumentLayout(kind: VIGIL_ARG_KIOCB, size: 8, signed: false, presentation: .file))
        case .module: .success(ArgumentLayout(kind: VIGIL_ARG_MODULE, size: 8, signed: false, presentation: .module))
        case .userNamespace: .success(ArgumentLayout(kind: VIGIL_ARG_USER_NS, size: 8, signed: false, presentation: .userNamespace))
        case .nop: .success(ArgumentLayout(kind: VIGIL_ARG_NONE, size: 0, signed: false, presentation: .int))
        default: .failure(UnsupportedArgument(type: type))
        }
    }

    /// The layout of tracepoint field `field` read as `type` (`auto` follows the field's C type).
    public static func forTracepoint(_ type: ArgType, field: TracepointFormat.Field) -> Result<ArgumentLayout, UnsupportedArgument> {
        let size = UInt32(field.size)
        let isCharArray = field.declaration.contains("[") && field.declaration.contains("char")
        if field.declaration.contains("__data_loc") {
            return .failure(
                UnsupportedArgument(
                    type: type, detail: "field \(field.name) is a __data_loc (dynamic) field; Vigil reads pointer, integer and fixed-array fields"))
        }
        switch type {
        case .auto:
            if field.isPointer && field.declaration.contains("char") {
                return .success(ArgumentLayout(kind: VIGIL_ARG_STRING, size: 8, signed: false, presentation: .string))
            }
            if isCharArray { return .success(ArgumentLayout(kind: VIGIL_ARG_INLINE, size: size, signed: false, presentation: .string)) }
            guard [1, 2, 4, 8].contains(size) else { return .failure(UnsupportedArgument(type: type, detail: "field \(field.name) has size \(size)")) }
            return .success(.integer(size, signed: field.isSigned, size == 8 ? (field.isSigned ? .long : .size) : (field.isSigned ? .int : .uint)))
        case .string, .charBuf, .constBuf, .dataLoc:
            if isCharArray { return .success(ArgumentLayout(kind: VIGIL_ARG_INLINE, size: size, signed: false, presentation: .string)) }
            guard field.isPointer else {
                return .failure(UnsupportedArgument(type: type, detail: "field \(field.name) (\(field.declaration)) is not a pointer or char array"))
            }
            if type == .charBuf || type == .constBuf {
                return .success(ArgumentLayout(kind: VIGIL_ARG_BUFFER, size: 8, signed: false, presentation: .bytes))
            }
            return .success(ArgumentLayout(kind: VIGIL_ARG_STRING, size: 8, signed: false, presentation: .string))
        case .fd:
            return .success(ArgumentLayout(kind: VIGIL_ARG_FD, size: size, signed: true, presentation: .file))
        default:
            switch forFunction(type) {
            case .success(var l):
                if l.kind == VIGIL_ARG_INT {
                    // syscalls tracepoints widen every argument to 8 bytes (`int dfd` has size 8):
                    // read the policy type's width from the low bytes, never past the field.
                    guard [1, 2, 4, 8].contains(size) else { return .failure(UnsupportedArgument(type: type, detail: "field \(field.name) has size \(size)")) }
                    l.size = min(l.size, size)
                }
                return .success(l)
            case .failure(let e): return .failure(e)
            }
        }
    }
}

/// An argument type the engine does not read in the kernel (yet).
public struct UnsupportedArgument: Error, Sendable, Equatable, CustomStringConvertible {
    public var type: ArgType
    public var detail: String? = nil
    public var description: String {
        detail
            ?? "argument type \(type.rawValue) is not read by Vigil's engine yet (supported: integers, string, char_buf, fd, file, path, dentry, linux_binprm, kiocb, sock, socket, sockaddr, sockaddr_un, skb, net_device, cred, module, user_namespace)"
    }
}
