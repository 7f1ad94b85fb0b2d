import AgentRuntime
import BPFKit
import Foundation
import PolicyYAML
import XCTest

/// The attack suites of tests/attacks (`vigil policy test`) on this kernel: every attack and
/// its variations, and the benign neighbours, through the real agent binary. The README's
/// evasion table is computed from these results: the test fails when its column for this
/// kernel differs and writes the computed results to `$VIGIL_RESULTS_DIR/attacks-<kernel>.json`,
/// which `scripts/attack-table` merges into the README.
final class AttackSuiteTests: XCTestCase {
    static let root = ConformanceLoadTests.root
    static let suites = root.appendingPathComponent("tests/attacks")
    static let readme = root.appendingPathComponent("README.md")

    /// The suites the 6.1 guest runs in CI; 6.12 runs the others (KernelTest.guestShare). The
    /// split keeps each evasion-table row on one guest (the read and write rows share suites;
    /// the exec rows are the exec suites); a guest checks the rows it ran.
    static let guestShares: [String: Set<String>] = ["6.1": ["exec-kill.yaml", "exec-writable-dirs.yaml"]]

    func testAttackSuitesOnThisKernel() throws {
        try KernelTest.require(.tracepoint)
        let vigil = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vigil").path
        let every = try FileManager.default.contentsOfDirectory(atPath: Self.suites.path).filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertGreaterThanOrEqual(every.count, 5)
        let files = KernelTest.guestShare(of: every, shares: Self.guestShares)
        XCTAssertFalse(files.isEmpty, "no attack suite for this kernel")
        print("attack suites on this kernel: \(files.joined(separator: ", "))")
        let runner = PolicyTestRunner(executable: vigil) { print($0) }
        var results: [AttackResult] = []
        for f in files {
            let (suite, diagnostics) = AttackSuiteLoader.load(path: Self.suites.appendingPathComponent(f).path)
            XCTAssertTrue(diagnostics.isEmpty, "\(f): \(diagnostics.map(\.description))")
            guard let suite else { continue }
            results += try runner.run(suite)
        }
        print(AttackResultTable.text(results))
        for r in results where !r.passed {
            XCTFail("\((r.suite as NSString).lastPathComponent): \(r.name): expected \(r.expected), got \(r.got) (\(r.detail))")
        }
        // A case this kernel cannot host (exit 77, "n/a": a hardlink to /etc on the guests' 9p
        // root, file handles there) is a skip. Under CI=true it is allowed only in the guests:
        // the host runs every suite and every case must run there, so each runs on one kernel.
        if KernelTest.inCI && ProcessInfo.processInfo.environment["VIGIL_IN_VM"] == nil {
            for r in results where r.got == "n/a" {
                XCTFail("\((r.suite as NSString).lastPathComponent): \(r.name) could not run on the host under CI=true (\(r.detail))")
            }
        }
        // The README's column for this kernel must be what these results say.
        let column = ConformanceLoadTests.column
        let dir = ProcessInfo.processInfo.environment["VIGIL_RESULTS_DIR"] ?? NSTemporaryDirectory()
        let path = "\(dir)/attacks-\(column.replacingOccurrences(of: " ", with: "_")).json"
        let computed = AttackResultTable.markdown([(column, results)])
        let readme = try String(contentsOf: Self.readme, encoding: .utf8)
        var documented = AttackResultTable.column(column, in: readme)
        let expected = AttackResultTable.column(column, in: computed)
        // a guest that ran part of the suites checks the rows it ran (the others come from a
        // run of all suites there: see the README)
        if files.count < every.count, let rows = documented, let ran = expected { documented = rows.filter { ran[$0.key] != nil } }
        if documented != expected {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try enc.encode(results).write(to: URL(fileURLWithPath: path))
            XCTFail("README.md's evasion table, column '\(column)', differs from this run (results written to \(path); merge with scripts/attack-table)")
        }
    }
}
