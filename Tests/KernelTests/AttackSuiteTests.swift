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

    /// The suites each emulated guest runs in CI: both guests have BPF-LSM, and the two of them
    /// share the host's two cores under emulation, where the whole set takes each ~25 minutes.
    /// Every suite runs on the host's tier and on BPF-LSM in one guest each run; the evasion
    /// table says "not run" in the other guest's column. The split keeps each table row whole
    /// on one kernel (the read and write rows share suites; the exec rows are the exec suites).
    /// VIGIL_ATTACK_SUITES=all runs every suite in a guest.
    static let guestSuites: [String: Set<String>] = ["6.12": ["exec-kill.yaml", "exec-writable-dirs.yaml"]]

    static func suites(forKernel release: String, all: [String]) -> [String] {
        guard ProcessInfo.processInfo.environment["VIGIL_IN_VM"] != nil, ProcessInfo.processInfo.environment["VIGIL_ATTACK_SUITES"] != "all" else { return all }
        let series = release.split(separator: ".").prefix(2).joined(separator: ".")
        let elsewhere = guestSuites.filter { $0.key != series }.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        if let mine = guestSuites[series] { return all.filter(mine.contains) }
        return all.filter { !elsewhere.contains($0) }
    }

    func testAttackSuitesOnThisKernel() throws {
        try KernelTest.require(.tracepoint)
        let vigil = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vigil").path
        let every = try FileManager.default.contentsOfDirectory(atPath: Self.suites.path).filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertGreaterThanOrEqual(every.count, 5)
        var uts = utsname()
        uname(&uts)
        let release = withUnsafeBytes(of: &uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let files = Self.suites(forKernel: release, all: every)
        XCTAssertFalse(files.isEmpty, "no attack suite for kernel \(release)")
        print("attack suites on \(release): \(files.joined(separator: ", "))")
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
        // the rows of the suites another guest runs say so, and are not this run's to compare
        if files.count < every.count, let rows = documented, let ran = expected {
            XCTAssertTrue(
                rows.allSatisfy { ran[$0.key] != nil || $0.value == "not run" },
                "README.md's evasion table, column '\(column)': a row this kernel does not run in CI must say 'not run'")
            documented = rows.filter { ran[$0.key] != nil }
        }
        if documented != expected {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try enc.encode(results).write(to: URL(fileURLWithPath: path))
            XCTFail("README.md's evasion table, column '\(column)', differs from this run (results written to \(path); merge with scripts/attack-table)")
        }
    }
}
