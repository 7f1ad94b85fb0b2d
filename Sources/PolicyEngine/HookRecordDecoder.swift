import AgentCore
import CVigilABI
import Sensors

#if canImport(Glibc)
    import Glibc
#endif

/// A hook record from the ring buffer, decoded with its hook's plan; the agent adds the
/// process and parent from its cache.
public struct DecodedHookRecord: Sendable {
    public var hookID: UInt32
    /// The caller's exec identity from the kernel's table; nil when the table did not know it.
    public var process: ExecIdentity?
    public var pid: UInt32
    public var tid: UInt32
    public var args: [HookArgument]
    public var returnValue: HookArgument?
    public var action: String
    public var ktimeNs: UInt64
    /// What the agent is to carry out for this record (its selector's GetUrl / DnsLookup).
    public var userActions: [UserSpaceAction] = []
}

public enum HookRecordDecoder {

    /// The hook id of a hook record (to find its plan).
    public static func hookID(_ bytes: UnsafeRawBufferPointer) -> UInt32? {
        guard bytes.count >= slotsOffset else { return nil }
        return bytes.loadUnaligned(fromByteOffset: MemoryLayout<vigil_hook_record>.offset(of: \vigil_hook_record.hook_id)!, as: UInt32.self)
    }

    static let argOffset = MemoryLayout<vigil_hook_record>.offset(of: \vigil_hook_record.args)!
    static let slotsOffset = MemoryLayout<vigil_hook_record>.offset(of: \vigil_hook_record.slots)!
    static let slotDataOffset = MemoryLayout<vigil_hook_slot>.offset(of: \vigil_hook_slot.data)!

    /// The bytes of argument slot `i`.
    static func slotData(_ bytes: UnsafeRawBufferPointer, _ i: Int) -> UnsafeRawBufferPointer {
        let start = slotsOffset + i * MemoryLayout<vigil_hook_slot>.stride + slotDataOffset
        return UnsafeRawBufferPointer(rebasing: bytes[start..<(start + Int(VIGIL_ARG_BYTES))])
    }

    /// A record carries the fixed part and the slots its hook uses (`nargs` of them, the plan's
    /// slot count), nothing after.
    public static func decode(_ bytes: UnsafeRawBufferPointer, plan: borrowing HookPlan) -> DecodedHookRecord? {
        guard bytes.count >= slotsOffset + plan.slots.count * MemoryLayout<vigil_hook_slot>.stride else { return nil }
        let header = bytes.loadUnaligned(as: vigil_record_header.self)
        let hookID = bytes.loadUnaligned(fromByteOffset: MemoryLayout<vigil_hook_record>.offset(of: \vigil_hook_record.hook_id)!, as: UInt32.self)
        let id = bytes.loadUnaligned(fromByteOffset: MemoryLayout<vigil_hook_record>.offset(of: \vigil_hook_record.process)!, as: vigil_exec_id.self)
        let pid = bytes.loadUnaligned(fromByteOffset: MemoryLayout<vigil_hook_record>.offset(of: \vigil_hook_record.pid)!, as: UInt32.self)
        let tid = bytes.loadUnaligned(fromByteOffset: MemoryLayout<vigil_hook_record>.offset(of: \vigil_hook_record.tid)!, as: UInt32.self)
        let actions = bytes.loadUnaligned(fromByteOffset: MemoryLayout<vigil_hook_record>.offset(of: \vigil_hook_record.actions)!, as: UInt32.self)
        let ret = bytes.loadUnaligned(fromByteOffset: MemoryLayout<vigil_hook_record>.offset(of: \vigil_hook_record.ret)!, as: Int64.self)
        var args: [HookArgument] = []
        args.reserveCapacity(plan.slots.count)
        var globalPaths: [HookArgument] = []
        for (i, slot) in plan.slots.enumerated() where slot.layout.kind != VIGIL_ARG_NONE && i != plan.returnSlot {
            let meta = bytes.loadUnaligned(fromByteOffset: argOffset + i * MemoryLayout<vigil_hook_arg>.stride, as: vigil_hook_arg.self)
            let data = slotData(bytes, i)
            args.append(HookArgument(value(meta, data, slot.layout), label: slot.arg.label))
            // A file seen from a chroot or container: its global path beside the caller's view,
            // after the policy's own arguments (their positions stay as the policy lists them).
            if let global = ResolvedPath(meta, data)?.globalWhereDifferent {
                globalPaths.append(HookArgument(.path(path: global, permission: ""), label: "global_path"))
            }
        }
        args += globalPaths
        var returnValue: HookArgument?
        if let i = plan.returnSlot {
            let meta = bytes.loadUnaligned(fromByteOffset: argOffset + i * MemoryLayout<vigil_hook_arg>.stride, as: vigil_hook_arg.self)
            let data = slotData(bytes, i)
            returnValue = HookArgument(value(meta, data, plan.slots[i].layout), label: plan.slots[i].arg.label)
        } else if let r = plan.returnArg {
            var meta = vigil_hook_arg()
            meta.value = ret
            returnValue = HookArgument(value(meta, UnsafeRawBufferPointer(start: nil, count: 0), r.layout), label: r.arg.label)
        }
        var record = DecodedHookRecord(
            hookID: hookID, process: id.ktime == 0 ? nil : ExecIdentity(ktime: id.ktime, pid: id.pid),
            pid: pid, tid: tid, args: args, returnValue: returnValue, action: actionName(actions), ktimeNs: header.ktime_ns)
        if actions & (1 << VIGIL_ACT_GET_URL | 1 << VIGIL_ACT_DNS_LOOKUP) != 0 {
            let selector = Int(bytes.loadUnaligned(fromByteOffset: MemoryLayout<vigil_hook_record>.offset(of: \vigil_hook_record.selector)!, as: UInt32.self))
            if selector < plan.userActions.count { record.userActions = plan.userActions[selector] }
        }
        return record
    }

    /// Tetragon's action name for the strongest action taken.
    static func actionName(_ bits: UInt32) -> String {
        if bits & (1 << VIGIL_ACT_SIGKILL) != 0 { return "KPROBE_ACTION_SIGKILL" }
        if bits & (1 << VIGIL_ACT_OVERRIDE) != 0 { return "KPROBE_ACTION_OVERRIDE" }
        if bits & (1 << VIGIL_ACT_SIGNAL) != 0 { return "KPROBE_ACTION_SIGNAL" }
        if bits & (1 << VIGIL_ACT_GET_URL) != 0 { return "KPROBE_ACTION_GETURL" }
        if bits & (1 << VIGIL_ACT_DNS_LOOKUP) != 0 { return "KPROBE_ACTION_DNSLOOKUP" }
        if bits & (1 << VIGIL_ACT_UNTRACK_SOCK) != 0 { return "KPROBE_ACTION_UNTRACKSOCK" }
        if bits & (1 << VIGIL_ACT_TRACK_SOCK) != 0 { return "KPROBE_ACTION_TRACKSOCK" }
        return "KPROBE_ACTION_POST"
    }

    static func value(_ meta: vigil_hook_arg, _ data: UnsafeRawBufferPointer, _ layout: ArgumentLayout) -> HookArgValue {
        let failed = meta.flags & VIGIL_ARG_READ_FAILED != 0
        let len = min(Int(meta.len), data.count)
        func text() -> String { String(decoding: UnsafeRawBufferPointer(rebasing: data[0..<len]), as: UTF8.self) }
        switch layout.presentation {
        case .int: return .int(meta.value)
        case .uint: return .uint(UInt64(bitPattern: meta.value))
        case .size: return .size(UInt64(bitPattern: meta.value))
        case .long: return .long(meta.value)
        case .capability: return .capability(meta.value)
        case .string:
            if failed { return .unreadable("the kernel could not read the string") }
            return .string(ResolvedPath(meta, data)?.view ?? text())  // a pathname: as the kernel side resolved it
        case .bytes:
            if failed { return .unreadable("the kernel could not read the buffer") }
            return .bytes(
                Array(UnsafeRawBufferPointer(rebasing: data[0..<len])), truncated: meta.flags & VIGIL_ARG_TRUNCATED != 0,
                originalSize: UInt64(bitPattern: meta.value))
        case .file, .path, .linuxBinprm:
            if failed { return .unreadable(layout.kind == VIGIL_ARG_FD ? "fd \(meta.value) is not open" : "the kernel could not read the path") }
            let resolved = ResolvedPath(meta, data)
            let mode = resolved == nil || meta.flags & VIGIL_ARG_NO_IDENTITY != 0 ? 0 : UInt32(truncatingIfNeeded: meta.value)
            let perm = mode == 0 ? "" : permissionString(mode)
            let path = resolved?.view ?? text()
            switch layout.presentation {
            case .path: return .path(path: path, permission: perm)
            case .linuxBinprm: return .linuxBinprm(path: path, permission: perm)
            default: return .file(path: path, permission: perm)
            }
        case .sock:
            if failed || data.count < MemoryLayout<vigil_sock_data>.size { return .unreadable("the kernel could not read the socket") }
            let s = data.loadUnaligned(as: vigil_sock_data.self)
            return .sock(socketInfo(s))
        case .sockaddr:
            if failed || data.count < MemoryLayout<vigil_sock_data>.size { return .unreadable("the kernel could not read the address") }
            let s = data.loadUnaligned(as: vigil_sock_data.self)
            let info = socketInfo(s)
            return .sockaddr(family: info.family, address: s.family == 2 || s.family == 10 ? info.daddr : "", port: s.dport)
        case .sockaddrUn:
            if failed { return .unreadable("the kernel could not read the address") }
            let family = HookArgValue.SocketInfo.families[UInt16(truncatingIfNeeded: meta.value)] ?? "\(meta.value)"
            return .sockaddrUn(family: family, path: text())
        case .skb:
            if failed || data.count < MemoryLayout<vigil_sock_data>.size { return .unreadable("the kernel could not read the packet") }
            return .skb(socketInfo(data.loadUnaligned(as: vigil_sock_data.self)), length: UInt64(bitPattern: meta.value))
        case .netDevice: return failed ? .unreadable("the kernel could not read the device") : .netDevice(text())
        case .module: return failed ? .unreadable("the kernel could not read the module") : .module(text())
        case .userNamespace:
            if failed || data.count < MemoryLayout<vigil_user_ns_data>.size { return .unreadable("the kernel could not read the user namespace") }
            let n = data.loadUnaligned(as: vigil_user_ns_data.self)
            return .userNamespace(level: n.level, uid: n.uid, gid: n.gid, inum: n.inum)
        case .cred:
            if failed || data.count < MemoryLayout<vigil_cred_data>.size { return .unreadable("the kernel could not read the credentials") }
            let c = data.loadUnaligned(as: vigil_cred_data.self)
            return .credentials(
                .init(
                    uid: c.uid, gid: c.gid, euid: c.euid, egid: c.egid, suid: c.suid, sgid: c.sgid, fsuid: c.fsuid, fsgid: c.fsgid,
                    capPermitted: c.cap_permitted, capEffective: c.cap_effective, capInheritable: c.cap_inheritable))
        }
    }

    /// `ls -l` style mode string, as Tetragon's file_arg permission.
    static func permissionString(_ mode: UInt32) -> String {
        let type: Character
        switch mode & 0o170000 {
        case 0o040000: type = "d"
        case 0o120000: type = "l"
        case 0o020000: type = "c"
        case 0o060000: type = "b"
        case 0o010000: type = "p"
        case 0o140000: type = "s"
        default: type = "-"
        }
        var s = String(type)
        let bits: [(UInt32, Character)] = [
            (0o400, "r"), (0o200, "w"), (0o100, "x"), (0o040, "r"), (0o020, "w"), (0o010, "x"), (0o004, "r"), (0o002, "w"), (0o001, "x"),
        ]
        for (b, c) in bits { s.append(mode & b != 0 ? c : "-") }
        return s
    }

    static func socketInfo(_ s: vigil_sock_data) -> HookArgValue.SocketInfo { HookArgValue.SocketInfo(s) }
}

/// The paths of a resolved file argument (bpf/include/vigil_resolve.h): the global one (from
/// the agent's root) and the caller's own view (from its root, in a chroot or container).
struct ResolvedPath {
    /// The global path; a long one as its first and last bytes around "[...]".
    var global: String
    /// The path as the caller sees it, when its root is not the agent's.
    var callerView: String?

    init?(_ meta: vigil_hook_arg, _ data: UnsafeRawBufferPointer) {
        guard meta.flags & VIGIL_ARG_RESOLVED != 0, meta.flags & VIGIL_ARG_READ_FAILED == 0 else { return nil }
        let len = min(Int(meta.len), data.count)
        if meta.flags & VIGIL_ARG_LONG_PATH != 0, data.count >= 2 * Int(VIGIL_PATH_END_BYTES) {
            let end = Int(VIGIL_PATH_END_BYTES)
            global =
                String(decoding: UnsafeRawBufferPointer(rebasing: data[0..<end]), as: UTF8.self) + "[...]"
                + String(decoding: UnsafeRawBufferPointer(rebasing: data[end..<(2 * end)]), as: UTF8.self)
            return
        }
        global = String(decoding: UnsafeRawBufferPointer(rebasing: data[0..<len]), as: UTF8.self)
        if meta.flags & VIGIL_ARG_ROOT_VIEW != 0, Int(meta.root_off) < len {
            callerView = String(decoding: UnsafeRawBufferPointer(rebasing: data[Int(meta.root_off)..<len]), as: UTF8.self)
        }
    }

    /// What the event's argument shows: the caller's view (as Tetragon's d_path), else the global path.
    var view: String { callerView ?? global }
    /// The global path, when the caller's view differs from it.
    var globalWhereDifferent: String? { callerView == nil ? nil : global }
}
