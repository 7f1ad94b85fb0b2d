import Foundation
import PolicyYAML
import XCTest

/// Every policy the repository ships (examples/, policies/) parses and validates.
final class ShippedPoliciesTests: XCTestCase {
    func testExamplesAndDefaultPoliciesValidate() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var checked = 0
        for dir in ["examples", "policies"] {
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
}
