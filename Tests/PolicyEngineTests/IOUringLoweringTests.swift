import CVigilABI
import KernelFeatures
import PolicyModel
import PolicyYAML
import XCTest

@testable import PolicyEngine

/// Which hooks of a policy get an io_uring form, and in which dispatcher chain (the kernel
/// behaviour is proven by tests/attacks/io_uring-syscall-hooks.yaml on every kernel of CI).
final class IOUringLoweringTests: XCTestCase {
    /// The host profile, with io_uring's tracepoints (a kernel without them gets no forms).
    static func environment(withIOUring: Bool = true, submitEvent: String = "io_uring_submit_req") -> KernelEnvironment {
        let base = KernelProfiles.host
        let format: @Sendable (String, String) -> TracepointFormat? = { subsystem, event in
            guard subsystem == "io_uring" else { return KernelProfiles.tracepointFormat(subsystem, event) }
            guard withIOUring, event == "io_uring_complete" || event == submitEvent else { return nil }
            return TracepointFormat(
                subsystem: subsystem, event: event, id: 1,
                fields: [TracepointFormat.Field(declaration: "void * ctx", offset: 8, size: 8, isSigned: false)])
        }
        return KernelEnvironment(
            place: { target in
                HookPlacement.place(
                    target, status: base.status, hasBTF: { _ in true }, hasSymbol: { _ in true },
                    tracepointExists: { format($0, $1) != nil }, fileExists: { _ in true }, bpfLSMActive: false)
            },
            status: base.status, tracepointFormat: format, hostNamespace: base.hostNamespace)
    }

    func compile(_ yaml: String, _ env: KernelEnvironment) throws -> [HookPlan] {
        let file = PolicyLoader.parse(Array(yaml.utf8), file: "t.yaml")
        let policy = try XCTUnwrap(file.policies.first, "\(file.diagnostics)")
        return try PolicyCompiler.compile(policy, firstHookID: 1, environment: env).get().plans
    }

    static let policy = """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: t
        spec:
          tracepoints:
          - subsystem: syscalls
            event: sys_enter_openat
            args: [{index: 6, type: string}]
            selectors: [{matchArgs: [{index: 0, operator: Prefix, values: ["/etc/"]}]}]
          - subsystem: syscalls
            event: sys_enter_rename
            args: [{index: 5, type: string}, {index: 6, type: string}]
            selectors: [{matchArgs: [{index: 1, operator: Prefix, values: ["/etc/"]}]}]
          - subsystem: syscalls
            event: sys_enter_renameat2
            args: [{index: 6, type: string}, {index: 8, type: string}]
            selectors: [{matchArgs: [{index: 1, operator: Prefix, values: ["/etc/"]}]}]
          - subsystem: syscalls
            event: sys_enter_fsetxattr
            args: [{index: 5, type: fd}, {index: 6, type: string}]
            selectors: [{matchArgs: [{index: 0, operator: Prefix, values: ["/etc/"]}]}]
        """

    func testEachRequestKindIsJudgedOncePerPolicyByItsPreferredHook() throws {
        let plans = try compile(Self.policy, Self.environment())
        let forms = plans.filter { $0.flavour == .ioUringComplete || $0.flavour == .ioUringSubmit }
        XCTAssertEqual(forms.count, 3, "openat (opens, openat2, fixed files), renameat2 for all renames, fsetxattr: \(forms.map(\.hookName))")
        let open = try XCTUnwrap(forms.first { $0.flavour == .ioUringComplete })
        XCTAssertEqual(open.event, "sys_enter_openat", "the event stays the policy's")
        XCTAssertEqual(
            open.config.flags & (VIGIL_HOOKF_URING_OPENAT | VIGIL_HOOKF_URING_OPENAT2 | VIGIL_HOOKF_URING_FIXED_RW),
            VIGIL_HOOKF_URING_OPENAT | VIGIL_HOOKF_URING_OPENAT2 | VIGIL_HOOKF_URING_FIXED_RW, "no openat2 hook: openat's form stands for it")
        let renames = forms.filter { $0.flavour == .ioUringSubmit && $0.event.hasPrefix("sys_enter_rename") }
        XCTAssertEqual(renames.map(\.event), ["sys_enter_renameat2"], "one form for IORING_OP_RENAMEAT, from the preferred syscall")
        XCTAssertEqual(IOUringDispatch.kind(of: renames[0]), Int(vigil_uring_submit_kind(35)))
        let xattr = try XCTUnwrap(forms.first { $0.event == "sys_enter_fsetxattr" })
        XCTAssertEqual(IOUringDispatch.kind(of: xattr), 6)
        XCTAssertEqual(element(xattr.config.args, 0, as: vigil_arg_spec.self).source, VIGIL_URING_FD, "the fd argument is the request's descriptor")
        XCTAssertEqual(element(xattr.config.args, 1, as: vigil_arg_spec.self).source, VIGIL_URING_XATTR)
        XCTAssertEqual(element(xattr.config.args, 1, as: vigil_arg_spec.self).flags & VIGIL_ARGF_USER, 0, "a kernel string in a request")
    }

    func testNoIOUringNoForms() throws {
        let plans = try compile(Self.policy, Self.environment(withIOUring: false))
        XCTAssertFalse(plans.contains { $0.flavour == .ioUringComplete || $0.flavour == .ioUringSubmit })
    }

    func testLinux61SubmitTracepointName() throws {
        let plans = try compile(Self.policy, Self.environment(submitEvent: "io_uring_submit_sqe"))
        let submit = plans.filter { $0.flavour == .ioUringSubmit }
        XCTAssertFalse(submit.isEmpty)
        for p in submit { XCTAssertEqual(p.attach, .tracepoint(subsystem: "io_uring", event: "io_uring_submit_sqe")) }
    }

    func testSubmitKindsAreDistinctAndCoverEveryGroup() {
        let kinds = IOUringLowering.submitted.map { vigil_uring_submit_kind(UInt32($0.op)) }
        XCTAssertFalse(kinds.contains(0))
        XCTAssertEqual(Set(kinds).count, kinds.count)
        XCTAssertTrue(kinds.allSatisfy { $0 < VIGIL_URING_KINDS })
    }
}
