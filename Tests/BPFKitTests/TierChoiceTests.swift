import KernelFeatures
import XCTest

/// Tier selection from a table of probe results (no kernel involved).
final class TierChoiceTests: XCTestCase {
    private func statuses(_ available: Set<KernelFeature>) -> (KernelFeature) -> FeatureStatus {
        { available.contains($0) ? .supported : .unsupported(step: "load", errno: 1, errnoName: "EPERM", detail: "") }
    }

    /// The host's profile: tracepoints, cgroup and send_signal; no kprobe, fentry or LSM.
    static let host: Set<KernelFeature> = [.btf, .ringBuffer, .tracepoint, .rawTracepoint, .tpBTF, .cgroupSockAddr, .cgroupSKB, .tc, .tcx, .sendSignal]

    func testHostProfileFallsBackToTracepointsAndCgroup() {
        let s = statuses(Self.host)
        XCTAssertEqual(KernelReport.choose(.fileObservation, bpfLSMActive: true, status: s).tier?.name, "tracepoint")
        XCTAssertEqual(KernelReport.choose(.denyNetwork, bpfLSMActive: true, status: s).tier?.name, "cgroup")
        XCTAssertEqual(KernelReport.choose(.kill, bpfLSMActive: true, status: s).tier?.name, "send_signal")
        XCTAssertEqual(KernelReport.choose(.acceptObservation, bpfLSMActive: true, status: s).tier?.name, "handshake")
        let denyFile = KernelReport.choose(.denyFile, bpfLSMActive: true, status: s)
        XCTAssertNil(denyFile.tier)
        XCTAssertEqual(denyFile.skipped.count, 2, "lsm, fmod_ret: the tiers some code uses")
        XCTAssertTrue(denyFile.skipped[0].contains("lsm: unavailable (load: EPERM"), denyFile.skipped[0])
    }

    func testFullKernelPrefersLSM() {
        let s = statuses(Self.host.union([.kprobe, .fentry, .fexit, .fmodRet, .lsm]))
        XCTAssertEqual(KernelReport.choose(.fileObservation, bpfLSMActive: true, status: s).tier?.name, "lsm")
        XCTAssertEqual(KernelReport.choose(.denyFile, bpfLSMActive: true, status: s).tier?.name, "lsm")
        XCTAssertEqual(KernelReport.choose(.denyNetwork, bpfLSMActive: true, status: s).tier?.name, "lsm")
        XCTAssertEqual(KernelReport.choose(.acceptObservation, bpfLSMActive: true, status: s).tier?.name, "fexit")
    }

    func testInactiveBPFLSMFallsBackToFmodRet() {
        let s = statuses(Self.host.union([.fentry, .fmodRet, .lsm]))
        let choice = KernelReport.choose(.denyFile, bpfLSMActive: false, status: s)
        XCTAssertEqual(choice.tier?.name, "fmod_ret")
        XCTAssertTrue(choice.skipped[0].contains("bpf not in the active LSM list"))
    }
}
