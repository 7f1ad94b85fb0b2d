import Foundation
import XCTest

// kernel-test-host-only: operating the agent (log rotation, log levels, a second agent, pinned enforcement taken over, exit with parent): its pins are the same mechanism on every tier, and BPF-LSM enforcement is shown in both guests by the attack suites; the guests share two emulated cores
/// Running the agent as an operator does: logrotate and SIGHUP, a JSON log at a chosen level.
final class AgentOperationsTests: XCTestCase {
    func testSIGHUPReopensTheMovedExportAndSaysWhatChanged() throws {
        try KernelTest.require(.tracepoint)
        let agent = try AgentHarness(extraArguments: ["--log-format", "json", "--log-level", "info"])
        // logrotate's default (create): the file is moved, then the agent is told
        let moved = agent.exportPath + ".rotated"
        XCTAssertEqual(rename(agent.exportPath, moved), 0)
        kill(agent.process.processIdentifier, SIGHUP)
        // the next exec lands in a new file by the old name, not in the moved one
        let deadline = Date().addingTimeInterval(KernelTest.eventTimeout)
        var pid: Int32 = 0
        var found = false
        repeat {
            pid = try KernelTest.run("/usr/bin/true", []).pid
            usleep(200_000)
            found = (try? String(contentsOfFile: agent.exportPath, encoding: .utf8))?.contains("\"pid\":\(pid),") ?? false
        } while !found && Date() < deadline
        XCTAssertTrue(found, "after SIGHUP the export goes to a new \(agent.exportPath)")
        XCTAssertFalse(try String(contentsOfFile: moved, encoding: .utf8).contains("\"pid\":\(pid),"), "nothing more into the moved file")
        let mode = try FileManager.default.attributesOfItem(atPath: agent.exportPath)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600)
        agent.stop()
        // the log: JSON objects, one per line, saying what SIGHUP did
        let log = agent.stderrText().split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertFalse(log.isEmpty, "the log is JSON lines")
        let messages = log.compactMap { $0["message"] as? String }
        XCTAssertTrue(messages.contains { $0.contains("SIGHUP: export reopened") }, "\(messages)")
        XCTAssertTrue(messages.contains("SIGHUP: policies unchanged"), "\(messages)")
        XCTAssertTrue(log.allSatisfy { $0["level"] is String && $0["time"] is String })
    }

    func testLogLevelWarningKeepsInfoOut() throws {
        try KernelTest.require(.tracepoint)
        let agent = try AgentHarness(extraArguments: ["--log-level", "warning"])
        agent.stop()
        let log = agent.stderrText()
        XCTAssertFalse(log.contains(" info "), "no info lines at --log-level warning: \(log.prefix(400))")
    }
}

extension AgentOperationsTests {
    func testPolicyListSaysStaleAfterTheAgentWasKilled() throws {
        try KernelTest.require(.tracepoint)
        let agent = try AgentHarness(policies: [TetragonAPITests.openatPolicy(name: "stale-check")])
        let list = { () throws -> (Int32, String) in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: APICommandLineTests.vigil)
            p.arguments = ["policy", "list", "--status-file", agent.statusPath]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return (p.terminationStatus, text)
        }
        let (live, liveText) = try list()
        XCTAssertEqual(live, 0, liveText)
        XCTAssertFalse(liveText.contains("STALE"), liveText)
        kill(agent.process.processIdentifier, SIGKILL)
        agent.process.waitUntilExit()
        let (dead, deadText) = try list()
        XCTAssertEqual(dead, 1)
        XCTAssertTrue(deadText.hasPrefix("STALE: ") && deadText.contains("(pid \(agent.process.processIdentifier)) is not running"), deadText)
    }
}

extension AgentOperationsTests {
    /// One agent per node: a second is refused naming the first's pid, even with no API
    /// socket; --take-over stops the first (SIGTERM, its own shutdown) and runs in its place.
    func testASecondAgentIsRefusedAndTakeOverReplacesTheFirst() throws {
        try KernelTest.require(.tracepoint)
        let first = try AgentHarness(extraArguments: ["--server-address", ""])
        let lock = ["--lock-file", first.directory + "/agent.lock"]
        let second = try AgentHarness(extraArguments: ["--server-address", ""] + lock, expectFailure: true)
        XCTAssertEqual(second.process.terminationStatus, 1)
        let said = second.stderrText()
        XCTAssertTrue(said.contains("another agent runs on this node (pid \(first.process.processIdentifier)"), said)
        XCTAssertTrue(first.process.isRunning, "the first keeps running")

        let third = try AgentHarness(extraArguments: ["--server-address", "", "--take-over"] + lock)
        XCTAssertTrue(third.process.isRunning)
        first.process.waitUntilExit()
        XCTAssertEqual(first.process.terminationStatus, 0, "the first stopped cleanly (SIGTERM)")
        let pid = try String(contentsOfFile: first.directory + "/agent.lock", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(pid, "\(third.process.processIdentifier)", "the lock names the new agent")
        third.stop()
    }
}

extension AgentOperationsTests {
    /// An enforcing policy keeps killing after its agent was killed with SIGKILL; the next
    /// agent takes the enforcement over (the old pins go) and reports what was written while
    /// no agent read as lost; `vigil cleanup` ends it.
    func testEnforcementOutlivesTheAgentAndIsTakenOver() throws {
        try KernelTest.require(.tracepoint)
        let dir = try KernelTest.scratchDirectory()
        let pins = "/sys/fs/bpf/vigil-test-enforce-\(getpid())"
        defer {
            _ = EnforcementCleanupForTests.run(pins)
            try? FileManager.default.removeItem(atPath: dir)
        }
        try FileManager.default.copyItem(atPath: "/usr/bin/true", toPath: "\(dir)/dropper")
        let policy = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: outlive-kill
            spec:
              tracepoints:
              - subsystem: sched
                event: sched_process_exec
                selectors:
                - matchBinaries:
                  - operator: Prefix
                    values: ["\(dir)/"]
                  matchActions:
                  - action: Sigkill
              - subsystem: syscalls
                event: sys_enter_openat
                args:
                - index: 6
                  type: string
                selectors:
                - matchArgs:
                  - index: 0
                    operator: Equal
                    values: ["\(dir)/secret"]
                  matchActions:
                  - action: Sigkill
            """
        try "s3cret\n".write(toFile: "\(dir)/secret", atomically: false, encoding: .utf8)
        let dropper = { try KernelTest.run("/bin/sh", ["-c", "\(dir)/dropper; exit $?"]).status }
        // the open hook's io_uring form runs in the dispatcher's chain: pinned with the policy too
        let uringReader = {
            try KernelTest.run(
                "/bin/sh", ["-c", "python3 \(AttackSuiteTests.suites.appendingPathComponent("helpers/uring.py").path) read \(dir)/secret; exit $?"])
        }
        let first = try AgentHarness(extraArguments: ["--enforce-pin-dir", pins], policies: [policy])
        XCTAssertEqual(try dropper(), 137, "killed while the agent runs")
        let firstGeneration = "agent-\(first.process.processIdentifier)"
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(pins)/\(firstGeneration)/policy-outlive-kill"), "the enforcing policy is pinned")
        kill(first.process.processIdentifier, SIGKILL)
        first.process.waitUntilExit()

        XCTAssertEqual(try dropper(), 137, "still killed with no agent running")
        XCTAssertEqual(try dropper(), 137)
        let read = try uringReader()
        XCTAssertEqual(read.status, 137, "an io_uring read is still killed with no agent running: \(read.stdout) \(read.stderr)")
        XCTAssertFalse(read.stdout.contains("s3cret"))

        let second = try AgentHarness(extraArguments: ["--enforce-pin-dir", pins], policies: [policy])
        XCTAssertEqual(try dropper(), 137, "killed under the new agent")
        // the takeover follows the status file the harness waits for: allow it a moment
        var generations = try FileManager.default.contentsOfDirectory(atPath: pins)
        let deadline = Date().addingTimeInterval(10)
        while generations.count > 1 && Date() < deadline {
            usleep(100_000)
            generations = try FileManager.default.contentsOfDirectory(atPath: pins)
        }
        XCTAssertEqual(generations, ["agent-\(second.process.processIdentifier)"], "the old pins are gone once the new agent enforces")
        let lost = try second.waitForEvents("lost_events") { $0.contains { $0.body["agent_down"] != nil } }
        let counted = lost.first { $0.body["agent_down"] != nil }?.body["agent_down"] as? Int ?? 0
        XCTAssertGreaterThanOrEqual(counted, 2, "the two kills' records of the agent-less time are counted lost: \(lost)")
        second.stop()

        XCTAssertEqual(try dropper(), 137, "a clean stop leaves the enforcement too")
        let cleanup = Process()
        cleanup.executableURL = URL(fileURLWithPath: APICommandLineTests.vigil)
        cleanup.arguments = ["cleanup", "--enforce-pin-dir", pins]
        cleanup.standardOutput = FileHandle.nullDevice
        try cleanup.run()
        cleanup.waitUntilExit()
        XCTAssertEqual(cleanup.terminationStatus, 0)
        XCTAssertEqual(try dropper(), 0, "vigil cleanup ends it")
    }
}

/// The pins a test made, removed even when it fails midway.
enum EnforcementCleanupForTests {
    static func run(_ root: String) -> Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: APICommandLineTests.vigil)
        p.arguments = ["cleanup", "--enforce-pin-dir", root]
        p.standardOutput = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        rmdir(root)
        return p.terminationStatus == 0
    }
}

extension AgentOperationsTests {
    /// --exit-with-parent: an agent whose starter dies (a test runner killed midway) stops too.
    func testExitWithParentStopsTheAgentWhenItsStarterDies() throws {
        try KernelTest.require(.tracepoint)
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let args = [
            "agent", "--export-file", dir + "/e.json", "--status-file", dir + "/s.json", "--server-address", "", "--lock-file", dir + "/l",
            "--enforce-pin-dir", "", "--disable-datapath", "--disable-network-sensor", "--exit-with-parent",
        ]
        // the shell starts the agent, says its pid, waits until it runs, then is killed
        let script =
            "\(APICommandLineTests.vigil) \(args.map { "'\($0)'" }.joined(separator: " ")) 2>/dev/null & echo $!; while [ ! -e \(dir)/s.json ]; do sleep 0.1; done; sleep 30"
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", script]
        let out = Pipe()
        shell.standardOutput = out
        try shell.run()
        let line = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let agentPID = try XCTUnwrap(Int32(line), "no pid: \(line)")
        let ready = Date().addingTimeInterval(KernelTest.eventTimeout * 4)
        while !FileManager.default.fileExists(atPath: dir + "/s.json") && Date() < ready { usleep(100_000) }
        XCTAssertEqual(kill(agentPID, 0), 0, "the agent runs")
        kill(shell.processIdentifier, SIGKILL)
        shell.waitUntilExit()
        let deadline = Date().addingTimeInterval(KernelTest.eventTimeout * 2)
        while kill(agentPID, 0) == 0 && Date() < deadline { usleep(100_000) }
        XCTAssertNotEqual(kill(agentPID, 0), 0, "the agent stopped with its parent")
        if kill(agentPID, 0) == 0 { kill(agentPID, SIGKILL) }
    }
}
