import KernelFeatures
import PolicyModel

/// Kernels described without a kernel: what `vigil policy validate` compiles against (every
/// feature, so only what no kernel can run is refused) and the fixed profiles of the kernels
/// CI runs on (the property test: what validate accepts, each of them loads or refuses only
/// for a kernel reason). Tracepoint formats come from a committed snapshot
/// (TracepointFormatSnapshot, scripts/gen-tracepoint-formats).
public enum KernelProfiles {
    /// Every tier and feature available; functions, LSM hooks and binaries taken to exist.
    public static var complete: KernelEnvironment { profile(features: Set(KernelFeature.allCases)) }

    /// The host kernel of this project (6.18 in a sandboxed VM): no kprobes, no trampolines or LSM.
    public static var host: KernelEnvironment {
        profile(features: [
            .tracepoint, .rawTracepoint, .tpBTF, .ringBuffer, .btf, .cgroupSockAddr, .cgroupSKB, .tc, .tcx, .sendSignal, .currentTaskBTF, .uprobe,
        ])
    }

    /// Debian 6.1 and 6.12 under qemu (every tier).
    public static var debian61: KernelEnvironment { profile(features: Set(KernelFeature.allCases).subtracting([.tcx, .kprobeMulti, .overrideReturn])) }
    public static var debian612: KernelEnvironment { profile(features: Set(KernelFeature.allCases).subtracting([.overrideReturn])) }

    /// The fixed profiles, by name.
    public static var fixed: [(name: String, env: KernelEnvironment)] { [("host 6.18", host), ("Debian 6.1", debian61), ("Debian 6.12", debian612)] }

    static func profile(features: Set<KernelFeature>) -> KernelEnvironment {
        let status: @Sendable (KernelFeature) -> FeatureStatus = {
            features.contains($0) ? .supported : .unsupported(step: "profile", errno: 95, errnoName: "EOPNOTSUPP", detail: "not in this kernel profile")
        }
        return KernelEnvironment(
            place: { target in
                HookPlacement.place(
                    target, status: status, hasBTF: { _ in true }, hasSymbol: { _ in true },
                    tracepointExists: { snapshot["\($0)/\($1)"] != nil }, fileExists: { _ in true }, bpfLSMActive: true)
            },
            status: status,
            tracepointFormat: { snapshot["\($0)/\($1)"] },
            hostNamespace: { _ in 4_026_531_836 })
    }

    /// A tracepoint's format from the committed snapshot (nil when it is not there).
    public static func tracepointFormat(_ subsystem: String, _ event: String) -> TracepointFormat? { snapshot["\(subsystem)/\(event)"] }

    /// The snapshot's formats, by `subsystem/event`.
    static let snapshot: [String: TracepointFormat] = {
        var out: [String: TracepointFormat] = [:]
        for line in TracepointFormatSnapshot.text.split(separator: "\n") {
            let parts = line.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let name = parts[0].split(separator: "/")
            guard name.count == 2 else { continue }
            var fields: [TracepointFormat.Field] = []
            for f in parts[2].split(separator: ";") {
                guard let at = f.lastIndex(of: "@") else { continue }
                let nums = f[f.index(after: at)...].split(separator: ":").compactMap { Int($0) }
                guard nums.count == 3 else { continue }
                fields.append(TracepointFormat.Field(declaration: String(f[..<at]), offset: nums[0], size: nums[1], isSigned: nums[2] == 1))
            }
            out[String(parts[0])] = TracepointFormat(subsystem: String(name[0]), event: String(name[1]), id: Int(parts[1]) ?? 0, fields: fields)
        }
        return out
    }()
}
