import Foundation
import XCTest

/// Runs the real `vigil agent` binary (built next to the tests) against the running kernel,
/// exporting to a temporary file, and reads the JSON lines back.
final class AgentHarness {
    let process = Process()
    let exportPath: String
    let directory: String
    let stderrPipe = Pipe()

    init(extraArguments: [String] = [], file: StaticString = #filePath, line: UInt = #line) throws {
        directory = try KernelTest.scratchDirectory()
        exportPath = directory + "/events.json"
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vigil")
        process.executableURL = exe
        process.arguments = ["agent", "--node-name", "test-node", "--export-file", exportPath] + extraArguments
        process.standardError = stderrPipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Ready once the /proc seeding has exported the test process itself.
        let me = "\"pid\":\(getpid()),"
        let deadline = Date().addingTimeInterval(KernelTest.eventTimeout * 2)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: exportPath, encoding: .utf8), text.contains(me) { return }
            if !process.isRunning { break }
            usleep(50_000)
        }
        XCTFail("agent did not start: \(stderrText())", file: file, line: line)
        throw XCTSkip("agent did not start")
    }

    func stderrText() -> String {
        if process.isRunning { return "(still running)" }
        return String(decoding: stderrPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    /// Sends SIGINT and waits; returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning {
            kill(process.processIdentifier, SIGINT)
            process.waitUntilExit()
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
            let text = try String(contentsOfFile: p, encoding: .utf8)
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
}
