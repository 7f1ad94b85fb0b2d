import Foundation
import XCTest

// kernel-test-host-only: process tracking on the host's tracepoint tier; every guest suite loads the same sensor (the guests share two emulated cores)
/// The agent's process events against a real kernel: the exact tree of a small shell
/// pipeline, procfs-seeded parents, exit codes and signals, rotation, and counted loss.
final class ProcessLifecycleTests: XCTestCase {
    func testShellPipelineTreeArgumentsAndExitCodes() throws {
        try KernelTest.require(.tracepoint)
        try KernelTest.require(.ringBuffer)
        let agent = try AgentHarness()
        let sh = try KernelTest.run("/bin/sh", ["-c", "sleep 0.1; /bin/true a b c"])
        XCTAssertEqual(sh.status, 0)
        let failing = try KernelTest.run("/bin/sh", ["-c", "exit 3"])
        XCTAssertEqual(failing.status, 3)
        try agent.barrier()
        XCTAssertEqual(agent.stop(), 0, "SIGINT stops the agent cleanly")
        let events = try agent.events()

        func exec(_ pid: Int32) -> [String: Any]? {
            events.first { $0.kind == "process_exec" && $0.pid == Int(pid) && ($0.process["flags"] as? String ?? "").contains("execve") }
        }
        let me = try XCTUnwrap(events.first { $0.kind == "process_exec" && $0.pid == Int(getpid()) }, "the test process, seeded from /proc")
        XCTAssertTrue((me.process["flags"] as? String ?? "").contains("procFS"))

        let shExec = try XCTUnwrap(exec(sh.pid), "exec of sh")
        XCTAssertEqual(shExec.process["arguments"] as? String, "-c 'sleep 0.1; /bin/true a b c'")
        XCTAssertEqual(shExec.process["parent_exec_id"] as? String, me.process["exec_id"] as? String, "sh's parent is the test process")
        XCTAssertEqual(shExec.parent["pid"] as? Int, Int(getpid()))

        let children = events.filter { $0.kind == "process_exec" && ($0.process["parent_exec_id"] as? String) == (shExec.process["exec_id"] as? String) }
        let sleep = try XCTUnwrap(children.first { ($0.process["binary"] as? String)?.hasSuffix("/sleep") == true }, "exec of sleep, child of sh")
        let tru = try XCTUnwrap(children.first { ($0.process["binary"] as? String)?.hasSuffix("/true") == true }, "exec of true, child of sh")
        XCTAssertEqual(sleep.process["arguments"] as? String, "0.1")
        XCTAssertEqual(tru.process["arguments"] as? String, "a b c")
        XCTAssertEqual(tru.parent["pid"] as? Int, Int(sh.pid))
        XCTAssertEqual(tru.parent["binary"] as? String, shExec.process["binary"] as? String)

        for e in [shExec, sleep, tru] {
            let id = e.process["exec_id"] as? String
            let exit = try XCTUnwrap(
                events.first { $0.kind == "process_exit" && ($0.process["exec_id"] as? String) == id }, "exit of \(e.process["binary"] ?? "?")")
            XCTAssertNil(exit.body["status"], "exit status 0 is omitted, as in Tetragon")
            XCTAssertNil(exit.body["signal"])
        }
        let failExec = try XCTUnwrap(exec(failing.pid))
        let failExit = try XCTUnwrap(
            events.first { $0.kind == "process_exit" && ($0.process["exec_id"] as? String) == (failExec.process["exec_id"] as? String) })
        XCTAssertEqual(failExit.body["status"] as? Int, 3)
        XCTAssertEqual(events.first?["node_name"] as? String, "test-node")
    }

    func testAncestorsBeyondTheParentWhenEnabled() throws {
        try KernelTest.require(.tracepoint)
        let agent = try AgentHarness(extraArguments: ["--enable-ancestors"])
        let sh = try KernelTest.run("/bin/sh", ["-c", "/bin/true ancestors-marker; exit 0"])
        XCTAssertEqual(sh.status, 0)
        try agent.barrier()
        agent.stop()
        let exec = try XCTUnwrap(try agent.events().first { $0.kind == "process_exec" && ($0.process["arguments"] as? String) == "ancestors-marker" })
        XCTAssertEqual(exec.parent["pid"] as? Int, Int(sh.pid))
        let ancestors = try XCTUnwrap(exec.body["ancestors"] as? [[String: Any]], "ancestors list present")
        XCTAssertEqual(ancestors.first?["pid"] as? Int, Int(getpid()), "nearest ancestor beyond the parent is the test process")
    }

    func testKilledProcessReportsItsSignal() throws {
        try KernelTest.require(.tracepoint)
        let agent = try AgentHarness()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sleep")
        p.arguments = ["30"]
        try p.run()
        let sleeper = Int(p.processIdentifier)
        try agent.waitForAll { $0.contains { $0.kind == "process_exec" && $0.pid == sleeper } }  // killed after its exec, not before
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        try agent.barrier()
        agent.stop()
        let exit = try XCTUnwrap(try agent.events().first { $0.kind == "process_exit" && $0.pid == Int(p.processIdentifier) })
        XCTAssertEqual(exit.body["signal"] as? String, "SIGKILL")
    }

    func testRotationAt64KBLosesAndTearsNothing() throws {
        try KernelTest.require(.tracepoint)
        let agent = try AgentHarness(extraArguments: ["--export-file-max-size", "64K", "--export-file-max-backups", "50"])
        let n = 150
        let storm = try KernelTest.run("/bin/sh", ["-c", "i=0; while [ $i -lt \(n) ]; do /bin/true rotation-marker $i; i=$((i+1)); done"])
        XCTAssertEqual(storm.status, 0)
        try agent.barrier()
        agent.stop()
        let files = try FileManager.default.contentsOfDirectory(atPath: agent.directory).filter { $0.hasPrefix("events.json") }
        XCTAssertGreaterThan(files.count, 2, "the export rotated: \(files)")
        for f in files {
            let size = (try FileManager.default.attributesOfItem(atPath: agent.directory + "/" + f)[.size] as? Int) ?? 0
            XCTAssertLessThanOrEqual(size, 64 * 1024, f)
        }
        let events = try agent.events(includingBackups: true)
        let markers = Set(
            events.filter { $0.kind == "process_exec" }.compactMap { $0.process["arguments"] as? String }.filter { $0.hasPrefix("rotation-marker ") })
        XCTAssertEqual(markers.count, n, "every exec of the storm is in some file, once rotation is accounted for")
    }

    func testTinyRingBufferLossIsReportedInTheStream() throws {
        try KernelTest.require(.tracepoint)
        let agent = try AgentHarness(extraArguments: ["--rb-size", "4K"])
        // Eight loops at once: bursts far above what 4 KiB (two exec records) holds between polls,
        // even on an emulated CPU (four were once not enough on 6.1's guest, whose drain thread no
        // longer pauses for policy work).
        let loop = "i=0; while [ $i -lt 150 ]; do /bin/true; i=$((i+1)); done"
        let storm = try KernelTest.run("/bin/sh", ["-c", Array(repeating: "(\(loop)) &", count: 8).joined(separator: " ") + " wait"])
        XCTAssertEqual(storm.status, 0)
        // Once the ring has room again a new exec gets through: try until one does (each try
        // comes after the storm ended, so its exec is the stream's proof of recovery).
        var after = try KernelTest.run("/bin/true", ["after-the-storm"])
        for _ in 0..<10 {
            let pid = Int(after.pid)
            let all = try agent.waitForAll { $0.contains { $0.kind == "process_exec" && $0.pid == pid } }
            if all.contains(where: { $0.kind == "process_exec" && $0.pid == pid }) { break }
            after = try KernelTest.run("/bin/true", ["after-the-storm"])
        }
        XCTAssertTrue(agent.process.isRunning, "the agent keeps running through loss")
        XCTAssertEqual(agent.stop(), 0)
        let events = try agent.events()
        let lost = events.filter { $0.kind == "lost_events" }
        XCTAssertFalse(lost.isEmpty, "loss appears in the stream")
        let total = lost.reduce(0) { $0 + ($1.body["total"] as? Int ?? 0) }
        XCTAssertGreaterThan(total, 0)
        XCTAssertTrue(events.contains { $0.kind == "process_exec" && $0.pid == Int(after.pid) }, "events flow again after the storm")
    }
}
