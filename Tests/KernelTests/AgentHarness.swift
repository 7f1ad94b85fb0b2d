import Datapath
import Foundation
import XCTest

/// Runs the real `vigil agent` binary (built next to the tests) against the running kernel,
/// exporting to a temporary file, and reads the JSON lines back.
final class AgentHarness {
    let process = Process()
    let exportPath: String
    let directory: String
    let stderrPipe = Pipe()

    var statusPath: String { directory + "/status.json" }
    /// The agent's gRPC socket (unless the test passed its own --server-address).
    var socketPath: String { directory + "/vigil.sock" }
    /// The datapath pins of this agent alone (removed when it stops), unless the test passed its own.
    private var ownedPinDirectory: String?

    /// Starts the agent; with `policies` (YAML texts) it also waits until they are loaded.
    /// `expectFailure`: return once the agent has exited (a policy that must not load).
    init(extraArguments: [String] = [], policies: [String] = [], expectFailure: Bool = false, file: StaticString = #filePath, line: UInt = #line) throws {
        directory = try KernelTest.scratchDirectory()
        exportPath = directory + "/events.json"
        var policyArgs: [String] = []
        for (i, text) in policies.enumerated() {
            let path = directory + "/policy-\(i).yaml"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            policyArgs += ["--policy", path]
        }
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vigil")
        process.executableURL = exe
        // the datapath's endpoint records and status are the test's own (never the machine's /run/vigil)
        var datapathArgs =
            extraArguments.contains("--endpoint-state-dir")
            ? []
            : ["--endpoint-state-dir", directory + "/endpoints", "--datapath-status-file", directory + "/datapath.json"]
        if !extraArguments.contains("--datapath-pin-dir") {
            ownedPinDirectory = "/sys/fs/bpf/vigil-test-\(getpid())-\(UUID().uuidString.prefix(8))"
            datapathArgs += ["--datapath-pin-dir", ownedPinDirectory!]
        }
        // the API socket and its policy store are the test's own too (never /var/run/vigil)
        var apiArgs = extraArguments.contains("--server-address") ? [] : ["--server-address", "unix://" + directory + "/vigil.sock"]
        if !extraArguments.contains("--api-policy-dir") { apiArgs += ["--api-policy-dir", directory + "/api-policies"] }
        if !extraArguments.contains("--lock-file") { apiArgs += ["--lock-file", directory + "/agent.lock"] }
        if !extraArguments.contains("--fleet-state-dir") { apiArgs += ["--fleet-state-dir", directory + "/fleet"] }
        // a test's enforcing policies end with its agent, unless the test pins them on purpose
        if !extraArguments.contains("--enforce-pin-dir") { apiArgs += ["--enforce-pin-dir", ""] }
        // a crashed test run leaves no agent behind
        if !extraArguments.contains("--exit-with-parent") { apiArgs += ["--exit-with-parent"] }
        // not rotated under the test's reader by a busy machine (the default is 10 MiB)
        if !extraArguments.contains("--export-file-max-size") { apiArgs += ["--export-file-max-size", "1G"] }
        process.arguments =
            ["agent", "--node-name", "test-node", "--export-file", exportPath, "--status-file", directory + "/status.json"]
            + policyArgs + datapathArgs + apiArgs + extraArguments
        process.standardError = stderrPipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Ready once the /proc seeding has exported the test process itself, and the
        // status file (written after the policies load) exists.
        let me = "\"pid\":\(getpid()),"
        let deadline = Date().addingTimeInterval(KernelTest.agentStartTimeout)
        while Date() < deadline {
            if expectFailure && !process.isRunning { return }
            if !expectFailure, let text = try? String(contentsOfFile: exportPath, encoding: .utf8), text.contains(me),
                FileManager.default.fileExists(atPath: statusPath)
            {
                return
            }
            if !process.isRunning { break }
            usleep(50_000)
        }
        XCTFail(expectFailure ? "agent kept running" : "agent did not start: \(stderrText())", file: file, line: line)
        throw KernelTest.Stop(reason: "agent did not start")
    }

    /// The agent's policy status (what `vigil policy list --json` prints).
    func status() throws -> [[String: Any]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: statusPath))
        let file = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try XCTUnwrap(file["policies"] as? [[String: Any]])
    }

    /// The first hook's counters, polled until `done` holds (the agent rewrites its status every second).
    func waitForCounters(until done: ([String: Int]) -> Bool) throws -> [String: Int] {
        let deadline = Date().addingTimeInterval(KernelTest.eventTimeout)
        var counters: [String: Int] = [:]
        repeat {
            let hooks = (try? status().first?["hooks"] as? [[String: Any]]) ?? nil
            // numbers only (selectorActions is a list)
            counters = ((hooks?.first?["counters"] as? [String: Any]) ?? [:]).compactMapValues { $0 as? Int }
            if done(counters) { return counters }
            usleep(200_000)
        } while Date() < deadline
        return counters
    }

    /// Events of `kind` (e.g. process_tracepoint), polling until `done` holds or the timeout passes.
    func waitForEvents(_ kind: String, until done: ([[String: Any]]) -> Bool) throws -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(KernelTest.eventTimeout)
        var found: [[String: Any]] = []
        repeat {
            found = try events().filter { $0.kind == kind }
            if done(found) { return found }
            usleep(100_000)
        } while Date() < deadline
        return found
    }

    /// Every event so far, polled until `done` holds or the timeout passes.
    @discardableResult
    func waitForAll(until done: ([[String: Any]]) -> Bool) throws -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(KernelTest.eventTimeout)
        var all: [[String: Any]] = []
        repeat {
            all = try events()
            if done(all) { return all }
            usleep(100_000)
        } while Date() < deadline
        return all
    }

    /// Every event the kernel produced before this call, exported: hook, exec and exit records
    /// share one ordered ring buffer, so once a process started now has its exec in the export,
    /// everything before it is there too. What a test checks for absence, it checks after this.
    @discardableResult
    func barrier(file: StaticString = #filePath, line: UInt = #line) throws -> [[String: Any]] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        let pid = Int(p.processIdentifier)
        // the backups too: with a small --export-file-max-size the barrier can land in one
        let deadline = Date().addingTimeInterval(KernelTest.eventTimeout)
        var all: [[String: Any]] = []
        repeat {
            all = try events(includingBackups: true)
            if all.contains(where: { $0.kind == "process_exec" && $0.pid == pid }) { return all }
            usleep(100_000)
        } while Date() < deadline
        XCTFail("the barrier process's exec never came", file: file, line: line)
        return all
    }

    func stderrText() -> String {
        if process.isRunning { return "(still running)" }
        return String(decoding: stderrConsumed + stderrPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    /// What stderrTextSoFar() already took out of the pipe.
    private var stderrConsumed = Data()

    /// What the agent logged so far, without waiting for it to exit.
    func stderrTextSoFar() -> String {
        let fd = stderrPipe.fileHandleForReading.fileDescriptor
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            stderrConsumed.append(contentsOf: buffer[..<n])
        }
        _ = fcntl(fd, F_SETFL, flags)
        return String(decoding: stderrConsumed, as: UTF8.self)
    }

    /// Sends SIGINT and waits; returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning {
            kill(process.processIdentifier, SIGINT)
            process.waitUntilExit()
        }
        if let pins = ownedPinDirectory {
            try? DatapathKernel.reset(pinDirectory: pins)
            ownedPinDirectory = nil
        }
        return process.terminationStatus
    }

    /// Every exported line (current file and rotated backups), parsed, in file order.
    func events(includingBackups: Bool = false) throws -> [[String: Any]] {
        var paths: [String] = []
        if includingBackups {
            let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("events.json.") }
            paths = names.sorted { Int($0.split(separator: ".").last!) ?? 0 > Int($1.split(separator: ".").last!) ?? 0 }.map { directory + "/" + $0 }
        }
        paths.append(exportPath)
        var out: [[String: Any]] = []
        for p in paths {
            // a backup can be renamed (a rotation) between the listing and the read
            guard var text = p == exportPath ? try String(contentsOfFile: p, encoding: .utf8) : try? String(contentsOfFile: p, encoding: .utf8)
            else { continue }
            if process.isRunning, !text.isEmpty, !text.hasSuffix("\n") {
                // read while the agent's write(2) of a batch is under way: the tail is not
                // there yet (a reader can see a write half done); it is whole once written
                text = String(text[...(text.lastIndex(of: "\n") ?? text.startIndex)])
                if !text.hasSuffix("\n") { text = "" }
            }
            XCTAssertTrue(text.isEmpty || text.hasSuffix("\n"), "\(p) ends mid-line")
            for line in text.split(separator: "\n") {
                guard let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                    XCTFail("not a JSON object: \(line.prefix(200))")
                    continue
                }
                out.append(obj)
            }
        }
        return out
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Accessors for Tetragon-shaped event objects.
extension Dictionary where Key == String, Value == Any {
    var kind: String { keys.first { $0 != "node_name" && $0 != "time" } ?? "" }
    var body: [String: Any] { self[kind] as? [String: Any] ?? [:] }
    var process: [String: Any] { body["process"] as? [String: Any] ?? [:] }
    var parent: [String: Any] { body["parent"] as? [String: Any] ?? [:] }
    var pid: Int { process["pid"] as? Int ?? -1 }
    var args: [[String: Any]] { body["args"] as? [[String: Any]] ?? [] }
}
