import BPFKit
import Foundation

/// Everything `vigil probe` tells about the running kernel: version, security state,
/// every probed feature, and the tier chosen for each capability.
public struct KernelReport: Sendable, Codable {
    public struct Feature: Sendable, Codable {
        public let name: KernelFeature
        public let available: Bool
        /// `available`, or what failed: step and errno.
        public let status: String
        public let errno: String?
        public let since: String
    }

    public struct TierChoice: Sendable, Codable {
        public let capability: Capability
        /// The chosen tier, or nil when no tier is possible.
        public let tier: HookTier?
        /// For each better tier that was skipped, why.
        public let skipped: [String]
    }

    public let kernel: String
    public let lockdown: String?
    /// The active LSMs, from /sys/kernel/security/lsm.
    public let activeLSMs: [String]
    public let bpfLSMActive: Bool
    public let cgroup2Root: String?
    public let features: [Feature]
    public let tiers: [TierChoice]

    /// Probes everything (through `probe`'s cache) and builds the report.
    public static func gather(using probe: FeatureProbe = .shared) -> KernelReport {
        _ = KernelFilesystems.ensureAll()
        let lsms = (readTextFile("/sys/kernel/security/lsm") ?? "").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let lockdown = readTextFile("/sys/kernel/security/lockdown").map { text in
            // "none [integrity] confidentiality": the bracketed word is the active mode.
            text.split(separator: " ").first { $0.hasPrefix("[") }.map { String($0.dropFirst().prefix { $0 != "]" }) } ?? text
        }
        let features = KernelFeature.allCases.map { f in
            let s = probe.status(f)
            var errnoName: String? = nil
            if case .unsupported(_, _, let name, _) = s { errnoName = name }
            return Feature(name: f, available: s.isSupported, status: s.description, errno: errnoName, since: f.since.release)
        }
        let bpfLSM = lsms.contains("bpf")
        let tiers = Capability.allCases.map { choose($0, bpfLSMActive: bpfLSM, status: probe.status) }
        return KernelReport(
            kernel: KernelVersion.running.release, lockdown: lockdown, activeLSMs: lsms, bpfLSMActive: bpfLSM,
            cgroup2Root: KernelFilesystems.cgroup2Root(), features: features, tiers: tiers)
    }

    /// The first tier of `capability` this kernel supports, with reasons for the ones skipped.
    /// `status` answers for one feature (normally `FeatureProbe.shared.status`; tests pass a table).
    public static func choose(_ capability: Capability, bpfLSMActive: Bool, status: (KernelFeature) -> FeatureStatus) -> TierChoice {
        var skipped: [String] = []
        for tier in capability.tiers {
            let missing = tier.requires.filter { !status($0).isSupported }
            if missing.isEmpty && (!tier.needsActiveBPFLSM || bpfLSMActive) {
                return TierChoice(capability: capability, tier: tier, skipped: skipped)
            }
            var why = missing.map { "\($0): \(status($0))" }
            if tier.needsActiveBPFLSM && !bpfLSMActive { why.append("bpf not in the active LSM list") }
            skipped.append("\(tier.name): " + why.joined(separator: "; "))
        }
        return TierChoice(capability: capability, tier: nil, skipped: skipped)
    }

    /// The report as aligned text for people.
    public var text: String {
        var out = "Kernel \(kernel)\n"
        out += "  lockdown: \(lockdown ?? "unknown (securityfs unavailable)")\n"
        out += "  active LSMs: \(activeLSMs.joined(separator: ",")) (bpf \(bpfLSMActive ? "active" : "NOT active"))\n"
        out += "  cgroup v2: \(cgroup2Root ?? "not mounted")\n\nFeatures (probed by loading and attaching):\n"
        let width = (features.map { $0.name.rawValue.count }.max() ?? 0) + 2
        for f in features {
            out += "  " + f.name.rawValue.padding(toLength: width, withPad: " ", startingAt: 0) + f.status + "\n"
        }
        out += "\nHook tiers:\n"
        for t in tiers {
            let name = t.capability.rawValue.padding(toLength: 14, withPad: " ", startingAt: 0)
            out += "  \(name)\(t.tier.map { $0.description } ?? "NONE: no tier possible")\n"
            for s in t.skipped { out += "  \(String(repeating: " ", count: 14))  skipped \(s)\n" }
        }
        return out
    }
}

/// The running kernel's release string (uname -r).
public var runningKernelRelease: String { KernelVersion.running.release }
