import Foundation
import XCTest

@testable import AgentRuntime

final class StatusFileWriterTests: XCTestCase {
    private func inode(_ path: String) -> UInt64? {
        (try? FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? UInt64) ?? nil
    }

    /// An atomic rewrite gives the file a new inode: the same inode means no write happened.
    func testRewritesOnlyWhenTheContentChangesOrTheFileIsGone() throws {
        let dir = NSTemporaryDirectory() + "vigil-status-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/sub/status.json"
        var writer = StatusFileWriter()
        writer.write(Data("a".utf8), to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "a", "the directory is created")
        let first = try XCTUnwrap(inode(path))
        writer.write(Data("a".utf8), to: path)
        XCTAssertEqual(inode(path), first, "unchanged content: not rewritten")
        writer.write(Data("b".utf8), to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "b")
        XCTAssertNotEqual(inode(path), first, "changed content: rewritten")
        try FileManager.default.removeItem(atPath: path)
        writer.write(Data("b".utf8), to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "b", "removed behind the agent's back: written again")
    }
}
