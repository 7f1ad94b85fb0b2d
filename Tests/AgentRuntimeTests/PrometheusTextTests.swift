import AgentMetrics
import Foundation
import XCTest

@testable import AgentRuntime
@testable import PolicyEngine

/// The metrics text as Prometheus' parser wants it: one group per family after its HELP and
/// TYPE, label values escaped.
final class PrometheusTextTests: XCTestCase {
    func testFamiliesAreGroupedAndLabelsEscaped() {
        var s = AgentStats.Snapshot()
        s.exportedByType = ["PROCESS_EXEC": 5, "PROCESS_EXIT": 4]
        let hook = { (name: String) in
            PolicyStatus.Hook(
                hook: name, tier: "tracepoint", attachPoint: "x", state: "attached", counters: HookCounters(runs: 10, posted: 2, actions: 1, lost: 0))
        }
        s.policies = [
            PolicyStatus(name: "a\"b\\c\nd", file: "f", mode: "enforce", hooks: [hook("h1"), hook("h2")]),
            PolicyStatus(name: "other", file: "f", mode: "monitor", hooks: [hook("h1")], disabled: false),
        ]
        let text = PrometheusText.render(s, .init(version: "1.2.3", ready: true, startedAt: Date(timeIntervalSince1970: 0)))
        var seen: [String] = []
        var current = ""
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                current = String(line.split(separator: " ")[2])
                XCTAssertFalse(seen.contains(current), "\(current) declared twice")
                seen.append(current)
                continue
            }
            if line.hasPrefix("#") { continue }
            let name = String(line.prefix { $0 != "{" && $0 != " " })
            XCTAssertEqual(name, current, "\(name) outside its family's group")
        }
        XCTAssertTrue(text.contains(#"policy="a\"b\\c\nd""#), "label escaping")
        XCTAssertTrue(text.contains(#"vigil_policy_actions_total{hook="h1",mode="monitor",policy="other"} 1"#), "monitor mode: would have acted")
        XCTAssertTrue(text.contains(#"vigil_tracingpolicy_loaded{state="enabled"} 2"#))
    }
}
