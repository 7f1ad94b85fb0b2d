import BPFKit
import BPFObjects
import CVigilABI

#if canImport(Glibc)
    import Glibc
#endif

/// The io_uring forms' dispatcher (bpf/progs/uring.bpf.c) and their chains, one per request
/// kind. An io_uring form is never attached to a tracepoint itself: every program on a
/// tracepoint runs for every io_uring request, and with the library loaded that was 37
/// programs per request (a NOP went from 320 ns to 2.4 µs). Instead one dispatcher per
/// tracepoint tests the request once and tail-calls the chain of forms that judge its kind;
/// the other requests cost that one test. Made when the first io_uring form loads; the
/// dispatcher is attached while some chain is not empty.
public final class IOUringDispatch {
    private var object: BPFObject?
    private var links: [String: BPFLink] = [:]
    /// Per kind, the forms in chain order, with a descriptor of each program (to rewrite the
    /// chain when one leaves).
    private var chains: [[(owner: ObjectIdentifier, program: LoadedProgramFD)]] = Array(repeating: [], count: Int(VIGIL_URING_KINDS))

    public init() {}

    private func loaded() throws(BPFError) -> BPFObject {
        if let object { return object }
        guard let image = BPFObjects.object(named: "uring") else {
            throw BPFError(operation: "embedded object lookup", subject: "object uring", errno: 2)
        }
        let o = try BPFObject(bytes: image, name: "uring")
        try o.load()
        object = o
        return o
    }

    /// The maps an io_uring form's object reuses (before its load).
    public func share(with hook: BPFObject) throws(BPFError) {
        let o = try loaded()
        try hook.map("uring_chain").reuse(try o.map("uring_chain"))
        try hook.map("uring_cursor").reuse(try o.map("uring_cursor"))
    }

    /// The chain a plan's form runs in: 0 for completions, 1... for the submitted kinds.
    static func kind(of plan: HookPlan) -> Int {
        plan.flavour == .ioUringComplete ? 0 : Int(vigil_uring_submit_kind((plan.config.flags >> VIGIL_HOOKF_URING_OP_SHIFT) & 0xff))
    }

    /// Appends `program` to its kind's chain and makes sure the dispatcher of the plan's
    /// io_uring tracepoint runs (a raw tracepoint: `io_uring_complete`, `io_uring_submit_req`).
    func register(_ owner: ObjectIdentifier, plan: HookPlan, program: BPFProgram) throws(BPFError) {
        let kind = Self.kind(of: plan)
        guard case .tracepoint(_, let event) = plan.attach, (0..<chains.count).contains(kind), kind > 0 || plan.flavour == .ioUringComplete else {
            throw BPFError(operation: "attach", subject: "\(plan.hookName): not an io_uring form", errno: 22)
        }
        guard chains[kind].count < Int(VIGIL_URING_CHAIN) else {
            throw BPFError(
                operation: "attach",
                subject:
                    "\(plan.hookName): already \(VIGIL_URING_CHAIN) io_uring forms judge this request kind (the kernel follows at most 33 tail calls); load fewer policies hooking the same syscalls",
                errno: 7)
        }
        let o = try loaded()
        let copy = try program.independentCopy()
        let slot = UInt32(kind) * UInt32(VIGIL_URING_CHAIN) + UInt32(chains[kind].count)
        try o.map("uring_chain").update(slot, UInt32(bitPattern: copy.rawFD))
        chains[kind].append((owner, copy))
        if links[event] == nil {
            let dispatcher = try o.program(kind == 0 ? "uring_complete_dispatch" : "uring_submit_dispatch")
            links[event] = try dispatcher.attachRawTracepoint(event)
        }
    }

    /// Takes `owner`'s form out of its chain, keeping the chain contiguous.
    func unregister(_ owner: ObjectIdentifier) {
        guard let map = try? object?.map("uring_chain") else { return }
        for kind in chains.indices {
            guard let i = chains[kind].firstIndex(where: { $0.owner == owner }) else { continue }
            chains[kind].remove(at: i)
            let base = UInt32(kind) * UInt32(VIGIL_URING_CHAIN)
            for j in i..<chains[kind].count { try? map.update(base + UInt32(j), UInt32(bitPattern: chains[kind][j].program.rawFD)) }
            _ = try? map.delete(key: bytes(of: base + UInt32(chains[kind].count)))
        }
        if chains.allSatisfy(\.isEmpty) {
            for l in links.values { l.close() }
            links.removeAll()
        }
    }

    /// Pins the dispatcher's links and the chains in `directory` (an enforcing policy's
    /// io_uring forms outliving the agent); a program array loses its entries when no
    /// descriptor or pin holds it any more.
    func pin(in directory: String) throws(BPFError) {
        for (event, l) in links where !fileExists("\(directory)/uring-\(event)") { try l.pin(at: "\(directory)/uring-\(event)") }
        if let map = try object?.map("uring_chain"), !fileExists("\(directory)/uring-chain") { try map.pin(at: "\(directory)/uring-chain") }
    }

    /// Forms in each chain (tests).
    public var chainLengths: [Int] { chains.map(\.count) }

    private func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }
}
