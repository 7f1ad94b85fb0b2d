import Foundation
import XCTest

/// lsmhooks: Override denies in the kernel (BPF-LSM), through the real agent.
// kernel-test-requires: lsm  (read by scripts/test: the class runs only on kernels with all of them)
final class PolicyLSMTests: XCTestCase {
    static func policy(name: String, hook: String, type: String, path: String, mode: String? = nil) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: \(name)
        spec:
        \(mode.map { "  options:\n  - name: policy-mode\n    value: \($0)" } ?? "")
          lsmhooks:
          - hook: \(hook)
            args:
            - index: 0
              type: \(type)
            selectors:
            - matchArgs:
              - index: 0
                operator: Equal
                values: ["\(path)"]
              matchActions:
              - action: Override
                argError: -1
        """
    }

    func testFileOpenOverrideDeniesProtectedFileOnly() throws {
        try KernelTest.requireActiveBPFLSM()
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let protected = dir + "/protected"
        let neighbour = dir + "/neighbour"
        FileManager.default.createFile(atPath: protected, contents: Data("secret\n".utf8))
        FileManager.default.createFile(atPath: neighbour, contents: Data("fine\n".utf8))
        let agent = try AgentHarness(policies: [Self.policy(name: "protect-file", hook: "file_open", type: "file", path: protected)])
        let denied = try KernelTest.run("/bin/cat", [protected])
        let allowed = try KernelTest.run("/bin/cat", [neighbour])
        XCTAssertNotEqual(denied.status, 0)
        XCTAssertTrue(denied.stderr.contains("Operation not permitted"), denied.stderr)
        XCTAssertEqual(allowed.status, 0, allowed.stderr)
        let events = try agent.waitForEvents("process_lsm") { $0.contains { $0.pid == Int(denied.pid) } }
        let e = try XCTUnwrap(events.first { $0.pid == Int(denied.pid) }, "the denial is reported")
        XCTAssertEqual(e.body["function_name"] as? String, "file_open")
        XCTAssertEqual(e.body["action"] as? String, "KPROBE_ACTION_OVERRIDE")
        XCTAssertEqual((e.args.first?["file_arg"] as? [String: Any])?["path"] as? String, protected)
        XCTAssertFalse(events.contains { $0.pid == Int(allowed.pid) })
        XCTAssertEqual(agent.stop(), 0)
        XCTAssertEqual(try KernelTest.run("/bin/cat", [protected]).status, 0, "stopping the agent lifts the deny")
    }

    func testFileOpenMonitorModeOnlyPosts() throws {
        try KernelTest.requireActiveBPFLSM()
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let protected = dir + "/protected"
        FileManager.default.createFile(atPath: protected, contents: Data("secret\n".utf8))
        let agent = try AgentHarness(policies: [Self.policy(name: "protect-file-monitor", hook: "file_open", type: "file", path: protected, mode: "monitor")])
        let run = try KernelTest.run("/bin/cat", [protected])
        XCTAssertEqual(run.status, 0, "monitor mode does not deny: \(run.stderr)")
        let events = try agent.waitForEvents("process_lsm") { $0.contains { $0.pid == Int(run.pid) } }
        let e = try XCTUnwrap(events.first { $0.pid == Int(run.pid) }, "monitor mode posts")
        XCTAssertEqual(e.body["action"] as? String, "KPROBE_ACTION_POST")
    }

    func testBprmCheckDeniesExecOfNamedBinary() throws {
        try KernelTest.requireActiveBPFLSM()
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let forbidden = dir + "/forbidden-tool"
        try FileManager.default.copyItem(atPath: "/bin/true", toPath: forbidden)
        let agent = try AgentHarness(policies: [Self.policy(name: "no-forbidden-exec", hook: "bprm_check_security", type: "linux_binprm", path: forbidden)])
        let denied = try KernelTest.run("/bin/sh", ["-c", forbidden])
        let allowed = try KernelTest.run("/bin/sh", ["-c", "/bin/true"])
        XCTAssertEqual(denied.status, 126, "the shell cannot execute it: \(denied.stderr)")
        XCTAssertTrue(denied.stderr.contains("ermission denied") || denied.stderr.contains("not permitted"), denied.stderr)
        XCTAssertEqual(allowed.status, 0)
        let events = try agent.waitForEvents("process_lsm") { $0.contains { $0.body["function_name"] as? String == "bprm_check_security" } }
        let e = try XCTUnwrap(events.first, "the denied exec is reported")
        XCTAssertEqual((e.args.first?["linux_binprm_arg"] as? [String: Any])?["path"] as? String, forbidden)
        XCTAssertEqual(e.body["action"] as? String, "KPROBE_ACTION_OVERRIDE")
    }
}
