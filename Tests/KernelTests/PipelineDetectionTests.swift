import Foundation
import XCTest

/// `curl ... | sh` seen from the kernel: the exec records carry the pipes on stdin and stdout,
/// and the agent joins the two ends of the same pipe. Runs on every kernel (process sensor).
final class PipelineDetectionTests: XCTestCase {
    func testDownloadPipedToShellIsReportedAndNeighboursAreNot() throws {
        try KernelTest.require(.tracepoint)
        let agent = try AgentHarness()
        let attack = try KernelTest.run("/usr/bin/bash", ["-c", "curl -s file:///dev/null | sh; true"])
        let catToShell = try KernelTest.run("/usr/bin/bash", ["-c", "cat /dev/null | sh; true"])
        let curlToCat = try KernelTest.run("/usr/bin/bash", ["-c", "curl -s file:///dev/null | cat; true"])
        for r in [attack, catToShell, curlToCat] { XCTAssertEqual(r.status, 0, r.stderr) }
        let events = try agent.waitForEvents("process_pipeline") { e in e.contains { $0.parent["pid"] as? Int == Int(attack.pid) } }
        let hit = try XCTUnwrap(events.first { $0.parent["pid"] as? Int == Int(attack.pid) }, "curl | sh is reported")
        XCTAssertEqual(hit.body["detection"] as? String, "download-piped-to-shell")
        XCTAssertEqual(hit.process["binary"] as? String, "/usr/bin/dash", "the shell (sh is dash here)")
        let source = try XCTUnwrap(hit.body["source"] as? [String: Any])
        XCTAssertEqual(source["binary"] as? String, "/usr/bin/curl")
        XCTAssertEqual(source["parent_exec_id"] as? String, hit.process["parent_exec_id"] as? String, "both ends are children of the same shell")
        usleep(300_000)
        let all = try agent.events().filter { $0.kind == "process_pipeline" }
        for benign in [catToShell, curlToCat] {
            XCTAssertFalse(all.contains { $0.parent["pid"] as? Int == Int(benign.pid) }, "a pipe without a download tool and a shell is not reported")
        }
    }
}
