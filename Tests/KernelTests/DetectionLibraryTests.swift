import AgentRuntime
import Foundation
import PolicyModel
import PolicyYAML
import XCTest

/// The detection library's proof (tests/detections, `vigil policy test`): every suite on this
/// kernel through the real agent binary, and the library's bookkeeping: each monitor policy
/// with a detection suite has, for every ATT&CK technique its header names, at least two
/// attack procedures and at least one benign neighbour; a policy without a suite is one of
/// those proven elsewhere (by name, below), so a new policy cannot arrive unproven.
final class DetectionLibraryTests: XCTestCase {
    static let root = ConformanceLoadTests.root
    static let suites = root.appendingPathComponent("tests/detections")
    static let policies = root.appendingPathComponent("policies")
    /// Policies proven by an attack suite of tests/attacks instead (credential-access: every
    /// other name of /etc/shadow, credential-reads.yaml).
    static let provenElsewhere: Set<String> = ["credential-access"]

    /// The ATT&CK technique ids a policy file's header names (its `MITRE ATT&CK:` paragraph).
    static func techniques(inHeaderOf text: String) -> Set<String> {
        var out: Set<String> = []
        var inside = false
        for line in text.split(separator: "\n") where line.hasPrefix("#") {
            if line.contains("MITRE ATT&CK:") { inside = true } else if inside && line.hasPrefix("# ") && !line.hasPrefix("#   ") { break }
            guard inside else { continue }
            let regex = try! NSRegularExpression(pattern: "T1[0-9]{3}(\\.[0-9]{3})?")
            let s = String(line)
            for m in regex.matches(in: s, range: NSRange(s.startIndex..., in: s)) { out.insert(String(s[Range(m.range, in: s)!])) }
        }
        return out
    }

    func testEveryPolicyIsProvenTechniqueByTechnique() throws {
        let policyFiles = try FileManager.default.contentsOfDirectory(atPath: Self.policies.path).filter { $0.hasSuffix(".yaml") }.sorted()
        var missing: [String] = []
        for f in policyFiles {
            let stem = String(f.dropLast(5))
            let text = try String(contentsOf: Self.policies.appendingPathComponent(f), encoding: .utf8)
            let techniques = Self.techniques(inHeaderOf: text)
            XCTAssertFalse(techniques.isEmpty, "policies/\(f): its header names no ATT&CK technique")
            let suitePath = Self.suites.appendingPathComponent(f).path
            guard FileManager.default.fileExists(atPath: suitePath) else {
                if !Self.provenElsewhere.contains(stem) { missing.append(f) }
                continue
            }
            let (suite, diagnostics) = AttackSuiteLoader.load(path: suitePath)
            XCTAssertTrue(diagnostics.isEmpty, "tests/detections/\(f): \(diagnostics.map(\.description))")
            guard let suite else { continue }
            XCTAssertTrue(suite.cases.contains(where: \.benign), "tests/detections/\(f): no benign neighbour")
            for t in techniques.sorted() {
                let n = suite.cases.filter { !$0.benign && $0.attackClass == t }.count
                XCTAssertGreaterThanOrEqual(n, 2, "tests/detections/\(f): \(t) (named by policies/\(f)) has \(n) attack procedure(s), needs 2")
            }
        }
        XCTAssertEqual(missing, [], "policies without a detection suite in tests/detections")
    }

    /// Whether a suite's policies can load differently on another kernel: a BPF-LSM or kprobe
    /// hook, alternative forms (several documents, the first that loads wins), or an exec hook
    /// (its scripts and executable mappings are lowered to BPF-LSM where the kernel has it). A
    /// suite whose policies are other tracepoint hooks runs the same programs on every kernel.
    static func isTierDependent(_ suite: AttackSuite) -> Bool {
        suite.policies.contains { written in
            let path = written.hasPrefix("/") ? written : suites.appendingPathComponent(written).standardized.path
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return true }
            return text.contains("lsmhooks:") || text.contains("kprobes:") || text.contains("\n---") || text.contains("event: sched_process_exec")
        }
    }

    /// The guests' share of the tier-dependent suites (KernelTest.guestShare): 6.1 these, 6.12
    /// the others. A suite whose policies an attack suite of tests/attacks loads too (the FIM
    /// and exec policies) runs on the host only: those policies' guest forms are the attack
    /// suites' to prove there, every CI run.
    static let guestShares: [String: Set<String>] = ["6.1": ["kernel-module-load.yaml", "lateral-admin-ports.yaml", "setuid-bit-set.yaml"]]

    /// The policy files tests/attacks' suites load (as standardized paths).
    static func attackSuitePolicies() -> Set<String> {
        let dir = AttackSuiteTests.suites
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }) ?? []
        var out: Set<String> = []
        for f in files {
            guard let suite = AttackSuiteLoader.load(path: dir.appendingPathComponent(f).path).suite else { continue }
            for p in suite.policies { out.insert(p.hasPrefix("/") ? p : dir.appendingPathComponent(p).standardized.path) }
        }
        return out
    }

    func testDetectionSuitesOnThisKernel() throws {
        try KernelTest.require(.tracepoint)
        let vigil = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vigil").path
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.suites.path).filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertGreaterThanOrEqual(files.count, 12)
        // In the emulated guests (6.1, 6.12) only the suites whose policies load differently
        // there: LSM and kprobe forms and alternative forms. A tracepoint-only suite runs the
        // same programs on every kernel and is proven by the host on every CI run; the guests'
        // emulated CPUs have 30 minutes for all kernel tests, so each guest runs its share.
        let inVM = ProcessInfo.processInfo.environment["VIGIL_IN_VM"] != nil
        let split = ProcessInfo.processInfo.environment["VIGIL_VM_SPLIT"] != "0"
        let share = Set(KernelTest.guestShare(of: files, shares: Self.guestShares))
        let provenByAttacks = Self.attackSuitePolicies()
        let runner = PolicyTestRunner(executable: vigil) { print($0) }
        var results: [AttackResult] = []
        var ran = 0
        var alsoInGuests: Set<String> = []
        for f in files {
            let (suite, diagnostics) = AttackSuiteLoader.load(path: Self.suites.appendingPathComponent(f).path)
            XCTAssertTrue(diagnostics.isEmpty, "\(f): \(diagnostics.map(\.description))")
            guard let suite else { continue }
            let policies = Set(suite.policies.map { $0.hasPrefix("/") ? $0 : Self.suites.appendingPathComponent($0).standardized.path })
            let guests = Self.isTierDependent(suite) && !(split && policies.isSubset(of: provenByAttacks))
            if inVM && !(guests && share.contains(f)) { continue }
            if guests { alsoInGuests.insert((f as NSString).deletingPathExtension) }
            ran += 1
            results += try runner.run(suite)
        }
        XCTAssertGreaterThanOrEqual(ran, inVM ? 3 : 12, "detection suites run on this kernel")
        print("detection suites run here: \(ran)")
        print(AttackResultTable.text(results))
        for r in results where !r.passed {
            XCTFail("\((r.suite as NSString).lastPathComponent): \(r.name): expected \(r.expected), got \(r.got) (\(r.detail))")
        }
        // A case a kernel cannot host (exit 77, "n/a": the host has no loadable modules) is a
        // skip. Under CI=true it is allowed only on the host and only for a suite the guests
        // run too, where the case must then run (the guests have every capability).
        if KernelTest.inCI {
            for r in results where r.got == "n/a" {
                let stem = ((r.suite as NSString).lastPathComponent as NSString).deletingPathExtension
                if inVM || !alsoInGuests.contains(stem) {
                    XCTFail("\(stem): \(r.name) could not run on this kernel under CI=true (\(r.detail))")
                }
            }
        }
        // results for the README's policy table (scripts/policy-table)
        let dir = ProcessInfo.processInfo.environment["VIGIL_RESULTS_DIR"] ?? NSTemporaryDirectory()
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try enc.encode(results).write(
            to: URL(fileURLWithPath: "\(dir)/detections-\(ConformanceLoadTests.column.replacingOccurrences(of: " ", with: "_")).json"))
    }
}
