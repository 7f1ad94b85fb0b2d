import AgentCore
import EventJSON
import Export
import Foundation
import XCTest

final class ExportTests: XCTestCase {
    private var dir = ""
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-export-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    private func lines(_ from: Int, _ to: Int) -> [UInt8] {
        Array((from..<to).map { "{\"seq\":\($0),\"pad\":\"\(String(repeating: "x", count: 200))\"}\n" }.joined().utf8)
    }

    func testRotationAt64KBKeepsEveryLineWhole() throws {
        let path = dir + "/e.json"
        let sink = try RotatingFileSink(path: path, maxBytes: 64 * 1024, maxBackups: 100)
        for batch in 0..<40 { try lines(batch * 50, batch * 50 + 50).withUnsafeBytes { try sink.write($0) } }
        try sink.close()
        XCTAssertGreaterThan(sink.rotations, 3)
        var seqs: [Int] = []
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        for f in files {
            let data = try String(contentsOfFile: dir + "/" + f, encoding: .utf8)
            XCTAssertTrue(data.hasSuffix("\n"), "\(f) ends with a whole line")
            XCTAssertLessThanOrEqual(data.utf8.count, 64 * 1024, f)
            for l in data.split(separator: "\n") {
                let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(l.utf8)) as? [String: Any], "torn line in \(f)")
                seqs.append(obj["seq"] as! Int)
            }
        }
        XCTAssertEqual(seqs.sorted(), Array(0..<2000), "nothing lost, nothing duplicated")
    }

    func testBackupLimitAndGzip() throws {
        let path = dir + "/e.json"
        let sink = try RotatingFileSink(path: path, maxBytes: 8 * 1024, maxBackups: 2, compress: true)
        for batch in 0..<20 { try lines(batch * 20, batch * 20 + 20).withUnsafeBytes { try sink.write($0) } }
        try sink.close()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["e.json", "e.json.1.gz", "e.json.2.gz"])
        let gz = try XCTUnwrap(FileManager.default.contents(atPath: dir + "/e.json.1.gz"))
        XCTAssertEqual(Array(gz.prefix(2)), [0x1f, 0x8b], "gzip magic")
    }

    func testBackupsKeepTheLiveFilesModeAndReopenFollowsTheName() throws {
        let path = dir + "/m.json"
        let old = umask(0o022)
        defer { umask(old) }
        let sink = try RotatingFileSink(path: path, maxBytes: 4 * 1024, maxBackups: 2, compress: true)
        for batch in 0..<6 { try lines(batch * 20, batch * 20 + 20).withUnsafeBytes { try sink.write($0) } }
        let mode = { (p: String) -> Int in ((try? FileManager.default.attributesOfItem(atPath: p)[.posixPermissions]) as? Int) ?? -1 }
        XCTAssertEqual(mode(path), 0o600)
        XCTAssertEqual(mode(path + ".1.gz"), 0o600, "a compressed backup is as private as the live file")
        // logrotate moved the file away: reopen makes a new one by the name
        XCTAssertEqual(rename(path, path + ".moved"), 0)
        XCTAssertTrue(try sink.reopen(), "a new file")
        try lines(500, 501).withUnsafeBytes { try sink.write($0) }
        XCTAssertTrue(try String(contentsOfFile: path, encoding: .utf8).contains("\"seq\":500"))
        XCTAssertFalse(try sink.reopen(), "the same file")
        try sink.close()
    }

    func testAMissingExportDirectoryIsMadePrivate() throws {
        let path = dir + "/var/log/vigil/events.json"
        let sink = try RotatingFileSink(path: path)
        try lines(0, 1).withUnsafeBytes { try sink.write($0) }
        try sink.close()
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/var/log/vigil")[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o700)
        XCTAssertTrue(FileManager.default.fileExists(atPath: path))
    }

    func testAnUnknownEventTypeIsAnErrorNamingTheAcceptedOnes() {
        XCTAssertThrowsError(try ExportFilter(json: #"{"event_set":["PROCESS_EXCE"]}"#)) { e in
            XCTAssertTrue("\(e)".contains("unknown event type \"PROCESS_EXCE\"; one of PROCESS_EXEC"), "\(e)")
        }
        XCTAssertNoThrow(try ExportFilter(json: #"{"event_set":["PROCESS_DNS","RATE_LIMIT_INFO"]}"#))
    }

    func testFiltersAllowDenyAndFields() throws {
        var p = ProcessEntry(id: ExecIdentity(ktime: 1, pid: 10), parent: nil, binary: "/usr/bin/curl")
        p.arguments = "http://example.invalid"
        let parent = ProcessEntry(id: ExecIdentity(ktime: 0, pid: 1), parent: nil, binary: "/usr/sbin/nginx")
        let exec = AgentEvent.exec(process: p, parent: parent, ancestors: [], timeNs: 0)
        let exit = AgentEvent.exit(process: p, parent: parent, status: 0, signal: 0, timeNs: 0)
        XCTAssertTrue(try ExportFilter(json: #"{"event_set":["PROCESS_EXEC"],"binary_regex":["curl$"]}"#).matches(exec))
        XCTAssertFalse(try ExportFilter(json: #"{"event_set":["PROCESS_EXEC"]}"#).matches(exit))
        XCTAssertTrue(try ExportFilter(json: #"{"parent_binary_regex":["nginx"],"arguments_regex":["^http"]}"#).matches(exec))
        XCTAssertTrue(try ExportFilter(json: #"{"pid":[10]}"#).matches(exec))
        XCTAssertTrue(try ExportFilter(json: #"{"pid_set":[1]}"#).matches(exec), "pid_set includes the parent chain")
        XCTAssertFalse(try ExportFilter(json: #"{"pid_set":[77]}"#).matches(exec))
        XCTAssertTrue(try ExportFilter(json: #"{"pid_set":[77]}"#).matches(exec) { [500, 77] }, "and the ancestors, asked only when needed")
        var asked = false
        XCTAssertTrue(
            try ExportFilter(json: #"{"pid":[10]}"#).matches(exec) {
                asked = true
                return []
            })
        XCTAssertFalse(asked, "filters without pid_set never walk the ancestors")
        let filters = ExportFilters(
            allow: try ExportFilter.list(#"{"event_set":["PROCESS_EXEC"]}"#), deny: try ExportFilter.list(#"{"binary_regex":["curl"]}"#))
        XCTAssertFalse(filters.admits(exec))
        XCTAssertFalse(filters.admits(exit))
        XCTAssertTrue(filters.admits(.lostEvents(counts: [:], total: 1, timeNs: 0)), "loss reports always pass")
        XCTAssertThrowsError(try ExportFilter(json: #"{"binary_regexp":["x"]}"#)) { e in
            XCTAssertTrue("\(e)".contains("did you mean \"binary_regex\""), "\(e)")
        }
        XCTAssertThrowsError(try ExportFilter(json: #"{"binary_regex":["("]}"#))
    }
}
