import BPFKit
import Foundation
import PolicyEngine
import PolicyYAML
import Sensors
import XCTest

// kernel-test-guests: 6.1: Tetragon's policies through the oldest verifier, with kprobes, fentry and BPF-LSM (the host refuses or lowers the kprobe ones); the guests share two emulated cores
/// Which of the 71 Tetragon conformance policies load on this kernel, and why the others do
/// not: computed here by loading (and unloading) each one, compared with the documented
/// table in docs/conformance-load.md (one column per kernel of the CI run).
///
/// On a difference the test fails and writes the computed column to
/// `$VIGIL_RESULTS_DIR/conformance-<kernel>.tsv` (the VM harness sets it; else the temporary
/// directory); `scripts/conformance-table` merges those files into the document.
final class ConformanceLoadTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = root.appendingPathComponent("Tests/PolicyYAMLTests/Fixtures/conformance")
    static let document = root.appendingPathComponent("docs/conformance-load.md")

    /// The table's column for the running kernel.
    static var column: String {
        let v = KernelVersion.running
        switch (v.major, v.minor) {
        case (6, 1): return "Debian 6.1"
        case (6, 12): return "Debian 6.12"
        default: return "host \(v.major).\(v.minor)"
        }
    }

    static func policyFiles() throws -> [String] {
        let base = fixtures.path
        let all = FileManager.default.enumerator(atPath: base)?.compactMap { $0 as? String } ?? []
        return all.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
    }

    /// The documented cells of `column`, by policy file.
    static func documented(column: String) throws -> [String: String]? {
        let text = try String(contentsOf: document, encoding: .utf8)
        let rows = text.split(separator: "\n").filter { $0.hasPrefix("|") }.map { line in
            line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast().map { $0.trimmingCharacters(in: .whitespaces) }
        }
        guard let header = rows.first, let index = header.firstIndex(of: column) else { return nil }
        var out: [String: String] = [:]
        for row in rows.dropFirst(2) where row.count == header.count {
            out[row[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))] = row[index].replacingOccurrences(of: "\\|", with: "|")
        }
        return out
    }

    func testConformancePoliciesLoadAsDocumented() throws {
        try KernelTest.require(.tracepoint)
        let files = try Self.policyFiles()
        XCTAssertEqual(files.count, 71, "the conformance set has 71 policies")
        let sensor = try ProcessSensor(ringBufferBytes: 1 << 16)
        let manager = PolicyManager(shared: .init(try sensor.sharedMaps()))
        var computed: [String: String] = [:]
        for file in files {
            let r = PolicyLoader.load(path: Self.fixtures.appendingPathComponent(file).path)
            XCTAssertTrue(r.isValid, "\(file) must parse: \(r.diagnostics.first?.description ?? "")")
            computed[file] = r.policies.map { LoadCheck.check($0, manager: manager) }.joined(separator: " / ")
        }
        XCTAssertTrue(manager.loaded.isEmpty, "nothing stays loaded")
        let loads = computed.values.filter { $0.hasPrefix("loads") }.count
        print("conformance on \(Self.column): \(loads) of \(files.count) load")

        let documented = try Self.documented(column: Self.column)
        let mismatches = files.filter { documented?[$0] != computed[$0] }
        if !mismatches.isEmpty {
            let dir = ProcessInfo.processInfo.environment["VIGIL_RESULTS_DIR"] ?? NSTemporaryDirectory()
            let tsv = "\(dir)/conformance-\(Self.column.replacingOccurrences(of: " ", with: "_")).tsv"
            let body = "#\(Self.column)\n" + files.map { "\($0)\t\(computed[$0]!)" }.joined(separator: "\n") + "\n"
            try? body.write(toFile: tsv, atomically: true, encoding: .utf8)
            let sample = mismatches.prefix(5).map { "\($0): documented \(documented?[$0] ?? "(none)"), got \(computed[$0]!)" }
            XCTFail(
                "docs/conformance-load.md column '\(Self.column)' differs in \(mismatches.count) rows (computed column written to \(tsv); merge with scripts/conformance-table):\n"
                    + sample.joined(separator: "\n"))
        }
    }
}
