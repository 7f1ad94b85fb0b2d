import CVigilABI
import KernelFeatures
import PolicyEngine
import PolicyModel
import PolicyYAML
import XCTest

/// Placement from probe tables (no kernel): the host's profile and a full Debian kernel's.
final class HookPlacementTests: XCTestCase {
    static let host: Set<KernelFeature> = [.btf, .ringBuffer, .tracepoint, .rawTracepoint, .tpBTF, .cgroupSockAddr, .cgroupSKB, .tc, .tcx, .sendSignal]
    static let full = host.union([.kprobe, .fentry, .fexit, .fmodRet, .lsm])

    private func status(_ set: Set<KernelFeature>) -> (KernelFeature) -> FeatureStatus {
        { set.contains($0) ? .supported : .unsupported(step: "load", errno: 1, errnoName: "EPERM", detail: "") }
    }

    func testFunctionHooksPreferFentryThenKprobe() {
        let full = status(Self.full)
        let fentry = HookPlacement.place(
            .function(symbol: "security_file_open", isReturn: false, preferFentry: true), status: full, hasBTF: { _ in true }, bpfLSMActive: true)
        XCTAssertEqual(fentry.attachPoint, "fentry/security_file_open")
        let noBTF = HookPlacement.place(
            .function(symbol: "static_fn", isReturn: true, preferFentry: true), status: full, hasBTF: { _ in false },
            hasSymbol: { _ in true }, bpfLSMActive: true)
        XCTAssertEqual(noBTF.attachPoint, "kretprobe/static_fn")
        XCTAssertEqual(noBTF.skipped, ["fexit: static_fn has no BTF (trampolines need it)"])
        let host = HookPlacement.place(
            .function(symbol: "fd_install", isReturn: false, preferFentry: true), status: status(Self.host), hasBTF: { _ in true }, bpfLSMActive: true)
        XCTAssertNil(host.tier)
        XCTAssertEqual(host.skipped.count, 2)
        let missing = HookPlacement.place(
            .function(symbol: "no_such_fn", isReturn: false, preferFentry: true), status: full, hasBTF: { _ in false },
            hasSymbol: { _ in false }, bpfLSMActive: true)
        XCTAssertNil(missing.tier, "a function the kernel does not have cannot be kprobed")
        XCTAssertEqual(missing.skipped.last, "kprobe: no kernel function no_such_fn (not in /proc/kallsyms)")
    }

    /// sched_process_exec without fields goes to tp_btf where the kernel has it (so it runs
    /// after the process sensor); with fields, or without tp_btf, to the classic tracepoint.
    func testExecHookWithoutFieldsIsPlacedOnTpBTF() {
        let exists: (String, String) -> Bool = { _, _ in true }
        let withBTF = status(Self.host.union([.tpBTF]))
        let bare = HookPlacement.place(
            .tracepoint(subsystem: "sched", event: "sched_process_exec", raw: false, readsFields: false), status: withBTF, tracepointExists: exists)
        XCTAssertEqual(bare.attachPoint, "tp_btf/sched_process_exec")
        let fields = HookPlacement.place(
            .tracepoint(subsystem: "sched", event: "sched_process_exec", raw: false, readsFields: true), status: withBTF, tracepointExists: exists)
        XCTAssertEqual(fields.attachPoint, "tracepoint/sched/sched_process_exec")
        let noBTF = HookPlacement.place(
            .tracepoint(subsystem: "sched", event: "sched_process_exec", raw: false, readsFields: false), status: status(Self.host.subtracting([.tpBTF])),
            tracepointExists: exists)
        XCTAssertEqual(noBTF.attachPoint, "tracepoint/sched/sched_process_exec")
        XCTAssertEqual(noBTF.skipped.count, 1, "the tp_btf attempt says why it was not used")
        let openat = HookPlacement.place(
            .tracepoint(subsystem: "syscalls", event: "sys_enter_openat", raw: false, readsFields: false), status: withBTF, tracepointExists: exists)
        XCTAssertEqual(openat.attachPoint, "tracepoint/syscalls/sys_enter_openat", "only the exec tracepoint has the ordering need")
    }

    func testTracepointsAndLSM() {
        let s = status(Self.host)
        XCTAssertEqual(
            HookPlacement.place(.tracepoint(subsystem: "syscalls", event: "sys_enter_openat", raw: false), status: s, tracepointExists: { _, _ in true })
                .attachPoint,
            "tracepoint/syscalls/sys_enter_openat")
        XCTAssertEqual(
            HookPlacement.place(.tracepoint(subsystem: "raw_syscalls", event: "sys_enter", raw: true), status: s, tracepointExists: { _, _ in true })
                .attachPoint,
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
}

/// `vigil policy explain` describes the compiler's own result (no second compiler).
final class ExplanationTests: XCTestCase {
    static func policy(_ yaml: String) throws -> TracingPolicy {
        try XCTUnwrap(PolicyLoader.parse(Array(yaml.utf8), file: "e.yaml").policies.first)
    }

    func testExplainShowsTheCompiledProgramsAndLoweredForms() throws {
        let p = try Self.policy(
            """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: e}
            spec:
              tracepoints:
              - subsystem: syscalls
                event: sys_enter_openat
                args: [{index: 6, type: string}]
                selectors:
                - matchArgs: [{index: 0, operator: Prefix, values: ["/etc/shadow"]}]
                  matchActions: [{action: Sigkill}]
              kprobes:
              - call: tcp_connect
                syscall: false
                args: [{index: 0, type: sock}]
                selectors:
                - matchArgs: [{index: 0, operator: DPort, values: ["22"]}]
                  matchActions: [{action: Override, argError: -1}, {action: GetUrl, argUrl: "http://127.0.0.1/x"}]
            """)
        let host = PolicyExplanation.explain(p, environment: KernelProfiles.host, kernel: "profile")
        let open = try XCTUnwrap(host.hooks.first { $0.path == "spec.tracepoints[0]" })
        XCTAssertEqual(open.programs.map(\.attach), ["syscalls/sys_exit_openat"])
        XCTAssertEqual(open.programs.first?.role, "judged at the syscall's exit, on the opened file")
        XCTAssertTrue(open.selectors[0].actions[0].possible)
        let connect = try XCTUnwrap(host.hooks.first { $0.path == "spec.kprobes[0]" })
        XCTAssertEqual(connect.programs.map(\.flavour), ["cgroup/connect4", "cgroup/connect6"], "no kprobes on the host: the cgroup form")
        XCTAssertEqual(connect.selectors[0].actions.map(\.possible), [true, true], "GetUrl is carried out by the agent, not 'not implemented'")
        let full = PolicyExplanation.explain(p, environment: KernelProfiles.debian612, kernel: "profile")
        let fullConnect = try XCTUnwrap(full.hooks.first { $0.path == "spec.kprobes[0]" })
        XCTAssertEqual(
            fullConnect.programs.map(\.flavour), ["cgroup/connect4", "cgroup/connect6"],
            "tcp_connect cannot be overridden as a function: the same choice as the compiler")
        XCTAssertTrue(full.isFullyHostable)
    }

    func testExplainNamesWhatCannotRunAndTheScopeRefusal() throws {
        let p = try Self.policy(
            """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: e}
            spec:
              podSelector: {matchLabels: {app: x}}
              lsmhooks:
              - hook: file_open
                args: [{index: 0, type: file}]
            """)
        let host = PolicyExplanation.explain(p, environment: KernelProfiles.host, kernel: "profile")
        XCTAssertEqual(host.policyRefusals.count, 1)
        XCTAssertNotNil(host.hooks[0].refused, "no BPF-LSM on the host")
        XCTAssertFalse(host.isFullyHostable)
    }
}

/// Lowered exec forms never run wider than their source (issue 21, found by the library
/// tests on the LSM kernels: every exec of bash was reported as "a shell from a service").
final class ExecLoweringScopeTests: XCTestCase {
    func testAnExecCallersBinaryFilterCarriesToTheMappingAndBlocksTheScriptForm() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let file = PolicyLoader.load(path: root.appendingPathComponent("policies/exec-shell-from-service.yaml").path)
        let lsm = try XCTUnwrap(file.policies.first { $0.name.hasSuffix("-lsm") })
        let plans = try PolicyCompiler.compile(lsm, firstHookID: 1, environment: KernelProfiles.debian612).get().plans
        XCTAssertEqual(
            plans.map { "\($0.attach)" }.sorted(), ["bprm_check_security", "file_mprotect", "mmap_file"],
            "no script form: its opener is not the exec's caller")
        for p in plans {
            XCTAssertEqual(p.config.selectors.0.binary_op, VIGIL_OP_POSTFIX, "\(p.functionName): the caller must be a service, as in the source")
        }
    }
}
