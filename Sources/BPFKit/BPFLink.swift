import CLibbpf

#if canImport(Glibc)
    import Glibc
#endif

/// An attached program. Owns the attachment: `close()` or deinit detaches it, so a link
/// can never leak a hook. Pinning a link (`pin(at:)`) keeps it in the kernel past the
/// process; unpin by removing the bpffs file.
public final class BPFLink {
    enum Storage {
        case libbpf(OpaquePointer)
        case fd(Int32)
        case tc(Libbpf.ZeroedOpts<bpf_tc_hook>, handle: UInt32, priority: UInt32, destroyHook: Bool)
        case closed
    }

    private var storage: Storage
    /// Where the program is attached, for logs and `vigil policy list`.
    public let description: String

    init(libbpfLink: OpaquePointer, description: String) {
        storage = .libbpf(libbpfLink)
        self.description = description
    }

    init(fd: Int32, description: String) {
        storage = .fd(fd)
        self.description = description
    }

    init(tc hook: Libbpf.ZeroedOpts<bpf_tc_hook>, handle: UInt32, priority: UInt32, destroyHook: Bool, description: String) {
        storage = .tc(hook, handle: handle, priority: priority, destroyHook: destroyHook)
        self.description = description
    }

    deinit { close() }

    /// Whether the link is still attached.
    public var isAttached: Bool {
        if case .closed = storage { return false }
        return true
    }

    /// Detaches now (a pinned link too: BPF_LINK_DETACH). Idempotent.
    public func close() {
        switch storage {
        case .libbpf(let link): Libbpf.destroyLink(link)
        case .fd(let fd):
            Libbpf.detachLink(fd: fd)
            Glibc.close(fd)
        case .tc(let hook, let handle, let priority, let destroyHook):
            Libbpf.tcDetach(hook, handle: handle, priority: priority)
            if destroyHook { Libbpf.tcHookDestroy(hook) }
        case .closed: break
        }
        storage = .closed
    }

    /// Lets go of the attachment without detaching it: a pinned link stays by its pin, a tc
    /// filter stays on its qdisc. For state that must outlive the agent (the datapath keeps
    /// enforcing while the agent restarts).
    public func release() {
        if case .fd(let fd) = storage { Glibc.close(fd) }
        if case .libbpf(let link) = storage {
            Libbpf.disconnectLink(link)
            Libbpf.destroyLink(link)
        }
        storage = .closed
    }

    /// Removes the tc filter at `handle`/`priority` on an interface, whoever attached it (an
    /// earlier process that let go of it with `release()`).
    public static func detachTC(ifindex: Int32, ingress: Bool, handle: UInt32 = 1, priority: UInt32 = 1) {
        Libbpf.tcDetach(Libbpf.tcHook(ifindex: ifindex, ingress: ingress), handle: handle, priority: priority)
    }

    /// A link pinned at `path` (by this or an earlier process).
    public static func openPinned(_ path: String) throws(BPFError) -> BPFLink {
        BPFLink(fd: try Libbpf.objGet(path: path), description: "pinned link \(path)")
    }

    /// Runs `program` behind this link from now on (bpf_link_update: atomic, no gap).
    public func update(_ program: BPFProgram) throws(BPFError) {
        guard case .fd(let fd) = storage else { throw BPFError(operation: "bpf_link_update", subject: description, errno: EINVAL_) }
        try Libbpf.linkUpdate(linkFD: fd, programFD: program.fd, subject: description)
    }

    /// The link's descriptor (a BPF link; tc attachments have none).
    func linkDescriptor() throws(BPFError) -> Int32 {
        switch storage {
        case .libbpf(let link): return Libbpf.linkFD(link)
        case .fd(let fd): return fd
        case .tc, .closed: throw BPFError(operation: "link descriptor", subject: description, errno: EINVAL_)
        }
    }

    /// Pins the link in bpffs so it outlives this process. Only BPF links can be pinned.
    public func pin(at path: String) throws(BPFError) {
        switch storage {
        case .libbpf(let link): try Libbpf.pinLink(link, path: path, subject: description)
        case .fd(let fd): try Libbpf.objPin(fd: fd, path: path, subject: description)
        case .tc, .closed:
            throw BPFError(operation: "pin link", subject: description, errno: EINVAL_)
        }
    }
}
