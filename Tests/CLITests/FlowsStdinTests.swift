import Foundation
import XCTest

/// `vigil flows --file -`: flows read from a pipe (`vigil agent --export-stdout | vigil flows --file -`).
final class FlowsStdinTests: XCTestCase {
    func testFlowsFromStandardInput() throws {
        let p = Process()
        p.executableURL = CLITests.binDir.appendingPathComponent("vigil")
        p.arguments = ["flows", "--file", "-", "--verdict", "DROPPED"]
        let input = Pipe()
        let output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        try p.run()
        let lines = [
            #"{"flow":{"time":"t1","verdict":"DROPPED","source":{"identity":5},"destination":{"identity":6},"IP":{"source":"10.0.0.1","destination":"10.0.0.2"}}}"#,
            #"{"flow":{"time":"t2","verdict":"FORWARDED","source":{"identity":5},"destination":{"identity":6},"IP":{"source":"10.0.0.1","destination":"10.0.0.3"}}}"#,
            #"{"process_exec":{"process":{"binary":"/bin/true"}}}"#,
        ]
        input.fileHandleForWriting.write(Data((lines.joined(separator: "\n") + "\n").utf8))
        try input.fileHandleForWriting.close()
        let out = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertTrue(out.contains("t1") && out.contains("10.0.0.2"), out)
        XCTAssertFalse(out.contains("t2"), "the verdict filter applies: \(out)")
    }
}
