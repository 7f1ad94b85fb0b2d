import Foundation
import PolicyYAML
import XCTest

/// Every policy the repository ships (examples/, policies/) parses and validates.
final class ShippedPoliciesTests: XCTestCase {
    func testExamplesAndDefaultPoliciesValidate() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var checked = 0
        for dir in ["examples", "policies", "policies/enforce"] {
            let path = root.appendingPathComponent(dir).path
            for f in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] where f.hasSuffix(".yaml") {
                let r = PolicyLoader.load(path: path + "/" + f)
                XCTAssertTrue(r.isValid, "\(dir)/\(f): \(r.diagnostics.map(\.description))")
                XCTAssertTrue(r.warnings.isEmpty, "\(dir)/\(f): \(r.warnings.map(\.description))")
                checked += 1
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 3)
    }

    /// The library's header contract: what it detects, ATT&CK ids, whether it enforces.
    func testLibraryPoliciesCarryTheirHeader() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for dir in ["policies", "policies/enforce"] {
            let path = root.appendingPathComponent(dir).path
            for f in try FileManager.default.contentsOfDirectory(atPath: path) where f.hasSuffix(".yaml") {
                let text = try String(contentsOfFile: path + "/" + f, encoding: .utf8)
                let header = text.split(separator: "\n").prefix { $0.hasPrefix("#") }.joined(separator: "\n")
                for key in ["Detects", "MITRE ATT&CK: T", "Enforces: "] {
                    XCTAssertTrue(header.contains(key), "\(dir)/\(f): the header comment says \(key)")
                }
                XCTAssertEqual(
                    header.contains("Enforces: yes"), dir.hasSuffix("enforce"), "\(dir)/\(f): enforcing policies live in policies/enforce, and only they")
            }
        }
    }
}
