import Foundation
import PolicyEngine
import PolicyModel
import PolicyYAML
import XCTest

/// What `vigil policy validate` accepts is what loads (issue 20): every policy of every corpus
/// (Tetragon's 71, the library, the examples, the attack suites' test policies, the fuzzing
/// regressions) is validated (parse + compile on the complete profile) and compiled on the
/// fixed profile of each CI kernel. Where validate accepts, a kernel may refuse only for a
/// kernel reason (no tier for a hook there); where validate refuses, every kernel refuses too.
final class ValidateLoadAgreementTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func corpus() -> [String] {
        var files: [String] = []
        for dir in [
            "Tests/PolicyYAMLTests/Fixtures/conformance", "Tests/PolicyYAMLTests/Fixtures/fuzz-regressions", "policies", "examples",
            "tests/attacks/policies",
        ] {
            let base = root.appendingPathComponent(dir).path
            for f in FileManager.default.enumerator(atPath: base)?.compactMap({ $0 as? String }) ?? []
            where (f.hasSuffix(".yaml") || f.hasSuffix(".yml")) && !f.hasPrefix("datapath/") && !f.contains("siem") {
                files.append(base + "/" + f)
            }
        }
        return files.sorted()
    }

    func testWhatValidateAcceptsEveryKernelLoadsOrRefusesForAKernelReason() throws {
        let files = Self.corpus()
        XCTAssertGreaterThan(files.count, 80)
        var checked = 0
        var accepted = 0
        for file in files {
            let parsed = PolicyLoader.load(path: file)
            guard parsed.isValid else { continue }  // the YAML's own errors: nothing to compile
            for policy in parsed.policies {
                checked += 1
                let refusals = PolicyValidator.refusals(policy)
                if refusals.isEmpty { accepted += 1 }
                for (name, env) in KernelProfiles.fixed {
                    switch PolicyCompiler.compile(policy, firstHookID: 1, environment: env) {
                    case .success:
                        XCTAssertTrue(refusals.isEmpty, "\(file) \(policy.name): validate refuses (\(refusals.map(\.message))) but \(name) loads it")
                    case .failure(let e):
                        let policyReasons = e.reasons.filter { !$0.isKernelDependent }
                        if refusals.isEmpty {
                            XCTAssertTrue(
                                policyReasons.isEmpty,
                                "\(file) \(policy.name): validate accepts, \(name) refuses for a policy reason: \(policyReasons.map(\.description))")
                        }
                    }
                }
            }
        }
        print("validate/load agreement: \(checked) policies, \(accepted) accepted by validate, on \(KernelProfiles.fixed.count) kernel profiles")
        XCTAssertGreaterThan(checked, 90)
    }

    /// Every refusal is positioned in its file, at the part it is about.
    func testRefusalsArePositioned() throws {
        let yaml = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: scoped}
            spec:
              podSelector:
                matchLabels: {app: web}
              kprobes:
              - call: fd_install
                syscall: false
                args: [{index: 0, type: int}]
                selectors:
                - matchArgs: [{index: 0, operator: Equal, values: ["3"]}]
                  matchNamespaceChanges: [{operator: In, values: [Mnt]}]
            """
        let parsed = PolicyLoader.parse(Array(yaml.utf8), file: "scoped.yaml")
        let policy = try XCTUnwrap(parsed.policies.first)
        let r = PolicyValidator.refusals(policy)
        XCTAssertEqual(r.map { $0.location.map { "\($0.line):\($0.column)" } ?? "" }, ["6:5", "13:30"], "at the values the reasons are about")
        XCTAssertTrue(r[0].description.hasPrefix("scoped.yaml:6:5: error: spec.podSelector: "), r[0].description)
        XCTAssertTrue(r[1].message.contains("matchNamespaceChanges"), r[1].message)
    }
}
