import PolicyModel
import PolicyYAML
import XCTest

/// The 71 policies from Tetragon's examples (Fixtures/conformance, Apache-2.0, see its
/// LICENSE-NOTE.txt) all parse and validate, and their contents come through.
final class ConformanceTests: XCTestCase {
    func testAllSeventyOnePoliciesValidate() {
        let files = Fixtures.files(in: "conformance", suffixes: [".yaml", ".yml"])
        XCTAssertEqual(files.count, 71)
        for file in files {
            let result = PolicyLoader.load(path: file.path)
            XCTAssertTrue(result.isValid, result.diagnostics.map(\.description).joined(separator: "\n"))
            XCTAssertEqual(result.policies.count, 1, file.lastPathComponent)
        }
    }

    func testLSMFileOpenPolicyContents() throws {
        let result = PolicyLoader.load(path: Fixtures.root.appendingPathComponent("conformance/lsm_file_open.yaml").path)
        let policy = try XCTUnwrap(result.policies.first)
        XCTAssertEqual(policy.name, "lsm-file-open")
        let hook = try XCTUnwrap(policy.spec.lsmHooks.first)
        XCTAssertEqual(hook.hook, "file_open")
        XCTAssertEqual(hook.common.args, [HookArg(index: 0, type: .file)])
        let selector = try XCTUnwrap(hook.common.selectors.first)
        XCTAssertEqual(selector.matchBinaries, [BinaryFilter(op: .in, values: ["/usr/bin/cat"])])
        XCTAssertEqual(selector.matchArgs, [ArgFilter(index: 0, op: .equal, values: ["/etc/passwd", "/etc/shadow"])])
        XCTAssertEqual(selector.effectiveActions.map(\.kind), [.post])
    }

    func testCRDDefaultsAreApplied() throws {
        let result = PolicyLoader.load(path: Fixtures.root.appendingPathComponent("conformance/sys_setuid.yaml").path)
        let kprobe = try XCTUnwrap(result.policies.first?.spec.kprobes.first)
        XCTAssertTrue(kprobe.syscall, "syscall defaults to true (Tetragon's CRD default)")
        XCTAssertFalse(kprobe.isReturn)
        XCTAssertEqual(result.policies.first?.spec.mode, .enforce)
    }

    func testKnownTetragonQuirksAreWarningsNotErrors() throws {
        let result = PolicyLoader.load(path: Fixtures.root.appendingPathComponent("conformance/security_bprm_check.yaml").path)
        XCTAssertTrue(result.isValid)
        XCTAssertEqual(result.warnings.map(\.path), ["spec.kprobes[0].returnArg"])
    }

    func testTracepointFiltersCountPositionsInArgs() throws {
        let result = PolicyLoader.load(path: Fixtures.root.appendingPathComponent("conformance/killer.yaml").path)
        let tp = try XCTUnwrap(result.policies.first?.spec.tracepoints.first)
        XCTAssertEqual(tp.common.args.first?.index, 4)
        XCTAssertEqual(tp.common.selectors.first?.matchArgs.first?.index, 4, "matchArgs index 0 resolves to the first arg (format field 4)")
    }
}
