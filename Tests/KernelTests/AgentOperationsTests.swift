import Foundation
import XCTest

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
