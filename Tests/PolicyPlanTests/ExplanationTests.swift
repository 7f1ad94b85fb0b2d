import KernelFeatures
import PolicyModel
import PolicyPlan
import XCTest

/// Placement and action feasibility from probe tables (no kernel): the host's profile and
/// a full Debian kernel's.
final class ExplanationTests: XCTestCase {
    static let host: Set<KernelFeature> = [.btf, .ringBuffer, .tracepoint, .rawTracepoint, .tpBTF, .cgroupSockAddr, .cgroupSKB, .tc, .tcx, .sendSignal]
    static let full = host.union([.kprobe, .fentry, .fexit, .fmodRet, .lsm])

    private func status(_ set: Set<KernelFeature>) -> (KernelFeature) -> FeatureStatus {
        { set.contains($0) ? .supported : .unsupported(step: "load", errno: 1, errnoName: "EPERM", detail: "") }
    }

    func testFunctionHooksPreferFentryThenKprobe() {
        let full = status(Self.full)
        let fentry = HookPlacement.place(.function(symbol: "security_file_open", isReturn: false, preferFentry: true), status: full, hasBTF: { _ in true }, bpfLSMActive: true)
        XCTAssertEqual(fentry.attachPoint, "fentry/security_file_open")
        let noBTF = HookPlacement.place(.function(symbol: "static_fn", isReturn: true, preferFentry: true), status: full, hasBTF: { _ in false },
                                        hasSymbol: { _ in true }, bpfLSMActive: true)
        XCTAssertEqual(noBTF.attachPoint, "kretprobe/static_fn")
        XCTAssertEqual(noBTF.skipped, ["fexit: static_fn has no BTF (trampolines need it)"])
        let host = HookPlacement.place(.function(symbol: "fd_install", isReturn: false, preferFentry: true), status: status(Self.host), hasBTF: { _ in true }, bpfLSMActive: true)
        XCTAssertNil(host.tier)
        XCTAssertEqual(host.skipped.count, 2)
        let missing = HookPlacement.place(.function(symbol: "no_such_fn", isReturn: false, preferFentry: true), status: full, hasBTF: { _ in false },
                                          hasSymbol: { _ in false }, bpfLSMActive: true)
        XCTAssertNil(missing.tier, "a function the kernel does not have cannot be kprobed")
        XCTAssertEqual(missing.skipped.last, "kprobe: no kernel function no_such_fn (not in /proc/kallsyms)")
    }

    /// sched_process_exec without fields goes to tp_btf where the kernel has it (so it runs
    /// after the process sensor); with fields, or without tp_btf, to the classic tracepoint.
    func testExecHookWithoutFieldsIsPlacedOnTpBTF() {
        let exists: (String, String) -> Bool = { _, _ in true }
        let withBTF = status(Self.host.union([.tpBTF]))
        let bare = HookPlacement.place(.tracepoint(subsystem: "sched", event: "sched_process_exec", raw: false, readsFields: false), status: withBTF, tracepointExists: exists)
        XCTAssertEqual(bare.attachPoint, "tp_btf/sched_process_exec")
        let fields = HookPlacement.place(.tracepoint(subsystem: "sched", event: "sched_process_exec", raw: false, readsFields: true), status: withBTF, tracepointExists: exists)
        XCTAssertEqual(fields.attachPoint, "tracepoint/sched/sched_process_exec")
        let noBTF = HookPlacement.place(.tracepoint(subsystem: "sched", event: "sched_process_exec", raw: false, readsFields: false), status: status(Self.host.subtracting([.tpBTF])), tracepointExists: exists)
        XCTAssertEqual(noBTF.attachPoint, "tracepoint/sched/sched_process_exec")
        XCTAssertEqual(noBTF.skipped.count, 1, "the tp_btf attempt says why it was not used")
        let openat = HookPlacement.place(.tracepoint(subsystem: "syscalls", event: "sys_enter_openat", raw: false, readsFields: false), status: withBTF, tracepointExists: exists)
        XCTAssertEqual(openat.attachPoint, "tracepoint/syscalls/sys_enter_openat", "only the exec tracepoint has the ordering need")
    }

    func testTracepointsAndLSM() {
        let s = status(Self.host)
        XCTAssertEqual(HookPlacement.place(.tracepoint(subsystem: "syscalls", event: "sys_enter_openat", raw: false), status: s, tracepointExists: { _, _ in true }).attachPoint,
                       "tracepoint/syscalls/sys_enter_openat")
        XCTAssertEqual(HookPlacement.place(.tracepoint(subsystem: "raw_syscalls", event: "sys_enter", raw: true), status: s, tracepointExists: { _, _ in true }).attachPoint,
                       "raw_tp/sys_enter")
        let missing = HookPlacement.place(.tracepoint(subsystem: "nope", event: "nope", raw: false), status: s, tracepointExists: { _, _ in false })
        XCTAssertEqual(missing.skipped, ["tracepoint: tracepoint nope/nope does not exist on this kernel"])
        let lsm = HookPlacement.place(.lsm(hook: "file_open"), status: status(Self.full), hasBTF: { $0 == "bpf_lsm_file_open" }, bpfLSMActive: true)
        XCTAssertEqual(lsm.attachPoint, "lsm/file_open")
        let inactive = HookPlacement.place(.lsm(hook: "file_open"), status: status(Self.full), hasBTF: { _ in true }, bpfLSMActive: false)
        XCTAssertNil(inactive.tier)
    }

    func testSyscallSymbolsGetTheArchPrefix() {
        XCTAssertEqual(HookPlacement.symbol(call: "sys_openat", syscall: true), "__x64_sys_openat")
        XCTAssertEqual(HookPlacement.symbol(call: "openat", syscall: true), "__x64_sys_openat")
        XCTAssertEqual(HookPlacement.symbol(call: "__x64_sys_openat", syscall: true), "__x64_sys_openat")
        XCTAssertEqual(HookPlacement.symbol(call: "fd_install", syscall: false), "fd_install")
    }

    func testActionFeasibilityAndMonitorMode() {
        var spec = PolicySpec()
        var hook = TracepointSpec(subsystem: "sched", event: "sched_process_exec")
        var sel = Selector()
        sel.matchActions = [Action(kind: .sigkill)]
        hook.common.selectors = [sel]
        spec.tracepoints = [hook]
        let policy = TracingPolicy(kind: .tracingPolicy, name: "k", spec: spec, location: SourceLocation(file: "f", line: 1, column: 1))
        let onHost = PolicyExplanation.explain(policy, status: status(Self.host))
        XCTAssertEqual(onHost.hooks[0].selectors[0].actions[0].effect, "bpf_send_signal from the hook")
        let noSignal = PolicyExplanation.explain(policy, status: status([.tracepoint]))
        XCTAssertFalse(noSignal.hooks[0].selectors[0].actions[0].possible)
        var monitored = policy
        monitored.spec.options = [OptionSpec(name: "policy-mode", value: "monitor")]
        XCTAssertEqual(PolicyExplanation.explain(monitored, status: status([.tracepoint])).hooks[0].selectors[0].actions[0].effect,
                       "monitor mode: reported, not enforced")
    }
}
