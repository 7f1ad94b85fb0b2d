import BPFKit
import BPFObjects
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Runs the feature probes against the running kernel and caches conclusive results.
///
/// Every probe really loads a small program from `bpf/progs/probe.bpf.c` (and attaches
/// and detaches it where the feature is an attach kind); nothing is inferred from the
/// kernel version or config. Probes need root (CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN,
/// CAP_SYS_ADMIN); without it every result is `.inconclusive`.
public final class FeatureProbe: Sendable {
    /// The process-wide probe with its cache.
    public static let shared = FeatureProbe()

    private let cache = Mutex<[KernelFeature: FeatureStatus]>([:])

    public init() {}

    /// The status of `feature`, probing on first use.
    public func status(_ feature: KernelFeature) -> FeatureStatus {
        if let cached = cache.withLock({ $0[feature] }) { return cached }
        let result = Self.run(feature)
        if case .inconclusive = result { return result }
        cache.withLock { $0[feature] = result }
        return result
    }

    /// Whether `feature` is supported (probing on first use).
    public func isSupported(_ feature: KernelFeature) -> Bool { status(feature).isSupported }

    static func run(_ feature: KernelFeature) -> FeatureStatus {
        guard geteuid() == 0 else { return .inconclusive("probes need root") }
        _ = KernelFilesystems.ensureAll()
        switch feature.probe {
        case .vmlinuxBTF:
            do {
                try KernelBTF.check()
                return .supported
            } catch {
                return unsupported("load BTF", error)
            }
        case .load(let program):
            return tryProgram(program, attach: nil)
        case .attach(let program, let how):
            return tryProgram(program, attach: how)
        }
    }

    private static func tryProgram(_ name: String, attach how: KernelFeature.AttachHow?) -> FeatureStatus {
        guard let bytes = BPFObjects.object(named: "probe") else { return .inconclusive("probe object missing from build") }
        let object: BPFObject
        do {
            object = try BPFObject(bytes: bytes, name: "probe")
            try object.keepOnly(programs: [name])
        } catch {
            return .inconclusive("open probe object: \(error)")
        }
        do {
            try object.load()
        } catch {
            return unsupported("load", error)
        }
        guard let how else { return .supported }
        do {
            let program = try object.program(name)
            let link: BPFLink
            switch how {
            case .bySection:
                link = try program.attach()
            case .cgroupRoot:
                guard let root = KernelFilesystems.cgroup2Root() else { return .inconclusive("no cgroup v2 mount") }
                link = try program.attachCgroup(path: root)
            case .tcLoopback:
                // A priority no operator uses, without replace: the probe never disturbs real filters.
                link = try program.attachTC(ifindex: loopbackIndex(), ingress: true, handle: 0x7167, priority: 0xfff1, replace: false)
            case .tcxLoopback:
                link = try program.attachTCX(ifindex: loopbackIndex(), ingress: true)
            case .uprobeSelf:
                link = try program.attachUprobe(binary: UprobeSelfTarget.binary, function: UprobeSelfTarget.symbol)
                UprobeSelfTarget.call()  // the probe returns 0: nothing changes
            }
            link.close()
            return .supported
        } catch {
            return unsupported("attach", error)
        }
    }

    private static func loopbackIndex() -> Int32 { Int32(if_nametoindex("lo")) }

    private static func unsupported(_ step: String, _ error: BPFError) -> FeatureStatus {
        // libbpf ends with a generic "failed to load object"; the program's own line says why.
        let lines = error.libbpfLog.split(separator: "\n").filter { !$0.contains("failed to load object") }
        let detail = (lines.last.map(String.init) ?? "").trimmingPrefix("libbpf: ")
        return .unsupported(step: step, errno: error.errno, errnoName: error.errnoName, detail: String(detail.prefix(160)))
    }
}
