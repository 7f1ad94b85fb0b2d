import Foundation
import XCTest

// kernel-test-host-only: the CLI over the agent's API: user space, as TetragonAPITests (the guests share two emulated cores)
/// The CLI over the agent's API (`vigil getevents`, `tracingpolicy`, `status`, `version`),
/// as an operator runs it against a live agent.
final class APICommandLineTests: XCTestCase {
    static let vigil = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vigil").path

    /// Runs `vigil args` to its end (or `timeout`, then SIGINT).
    func vigil(_ args: [String], timeout: TimeInterval = 20, whileRunning: (() throws -> Void)? = nil) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.vigil)
        p.arguments = args
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let collected = Box()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { collected.out = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { collected.err = err.fileHandleForReading.readDataToEndOfFile() }
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline {
            try whileRunning?()
            usleep(200_000)
        }
        if p.isRunning { kill(p.processIdentifier, SIGINT) }
        p.waitUntilExit()
        group.wait()
        return (p.terminationStatus, String(decoding: collected.out, as: UTF8.self), String(decoding: collected.err, as: UTF8.self))
    }

    final class Box: @unchecked Sendable {
        var out = Data()
        var err = Data()
    }

    func testTracingPolicyGetEventsStatusAndVersionAgainstALiveAgent() throws {
        try KernelTest.require(.tracepoint)
        let agent = try AgentHarness()
        let address = ["--server-address", "unix://" + agent.socketPath]
        let file = agent.directory + "/cli-openat.yaml"
        try TetragonAPITests.openatPolicy(name: "cli-openat").write(toFile: file, atomically: true, encoding: .utf8)

        let added = try vigil(["tracingpolicy", "add", file] + address)
        XCTAssertEqual(added.status, 0, added.err)
        let listed = try vigil(["tracingpolicy", "list"] + address)
        XCTAssertTrue(listed.out.contains("cli-openat  enabled  mode=enforce  added through the API"), listed.out + listed.err)

        // compact events of cat's opens, while cat runs; user strings are escaped
        let odd = agent.directory + "/esc\u{1b}[31mape"
        FileManager.default.createFile(atPath: odd, contents: Data("x".utf8))
        let compact = try vigil(
            ["getevents", "-o", "compact", "--process", "cat$", "--event-types", "process_exec", "--max-events", "1", "--color", "never"] + address
        ) {
            _ = try KernelTest.run(TetragonAPITests.cat, [odd])
        }
        XCTAssertEqual(compact.status, 0, compact.err)
        let line = compact.out.split(separator: "\n").first.map(String.init) ?? ""
        XCTAssertTrue(line.hasPrefix("🚀 process test-node \(TetragonAPITests.cat) "), "compact line: \(line)")
        XCTAssertTrue(line.contains("esc\\x1b[31mape"), "the escape is shown escaped: \(line)")
        XCTAssertFalse(compact.out.contains("\u{1b}"), "no raw escape reaches the terminal")

        // JSON: Tetragon's GetEventsResponse, the policy's event
        let json = try vigil(["getevents", "--policy-names", "cli-openat", "--max-events", "1"] + address) {
            _ = try KernelTest.run(TetragonAPITests.cat, ["/etc/hostname"])
        }
        XCTAssertEqual(json.status, 0, json.err)
        let event = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data((json.out.split(separator: "\n").first ?? "").utf8)) as? [String: Any])
        XCTAssertEqual(event.body["policy_name"] as? String, "cli-openat")

        let status = try vigil(["status"] + address)
        XCTAssertEqual(status.status, 0, status.err)
        XCTAssertTrue(status.out.contains("agent: ready"), status.out)
        XCTAssertTrue(status.out.contains("policies: 1 loaded, 0 not enabled"), status.out)

        let version = try vigil(["version"] + address)
        XCTAssertTrue(version.out.contains("vigil ") && version.out.contains("agent "), version.out)

        let deleted = try vigil(["tracingpolicy", "delete", "cli-openat"] + address)
        XCTAssertEqual(deleted.status, 0, deleted.err)
        let again = try vigil(["tracingpolicy", "delete", "cli-openat"] + address)
        XCTAssertEqual(again.status, 1)
        XCTAssertTrue(again.err.contains("no policy named cli-openat"), again.err)
    }

    func testBadInputAndNoAgentAreSaidClearly() throws {
        let bogus = try vigil(["getevents", "--event-types", "process_exec,process_bogus", "--server-address", "unix:///nonexistent/vigil.sock"])
        XCTAssertEqual(bogus.status, 2)
        XCTAssertTrue(bogus.err.contains("unknown type 'process_bogus'; accepted:") && bogus.err.contains("process_kprobe"), bogus.err)
        let none = try vigil(["status", "--server-address", "unix:///nonexistent/vigil.sock"])
        XCTAssertEqual(none.status, 1)
        XCTAssertTrue(none.err.contains("is `vigil agent` running?"), none.err)
    }
}
