import Foundation
import XCTest

@testable import AgentRuntime

/// The pages of code run once go back to the kernel: this test process's own file-backed
/// resident memory drops when it asks (the agent asks after start-up and after policy loads).
final class MemoryReleaseTests: XCTestCase {
    static func residentFileKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("RssFile:") } ?? ""
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? -1
    }

    func testReadOnlyFilePagesAreReclaimed() throws {
        let before = Self.residentFileKiB()
        XCTAssertGreaterThan(before, 0)
        let advised = MemoryRelease.releaseUnusedPages()
        let after = Self.residentFileKiB()
        // the test binary alone maps tens of megabytes of code read-only
        XCTAssertGreaterThan(advised, 10 << 20, "read-only file mappings advised")
        XCTAssertLessThan(after, before - 2048, "resident file pages \(before) KiB -> \(after) KiB")
    }
}
