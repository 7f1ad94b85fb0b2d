import Foundation
import XCTest

/// scripts/run's arguments (VIGIL_RUN_DRY=1 prints the command instead of building and
/// running it): the default policies stay loaded when other flags are given.
final class RunScriptTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    func command(_ args: [String]) throws -> [String] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.root + "/scripts/run")
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(["VIGIL_RUN_DRY": "1"]) { _, b in b }
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        return text.split(separator: "\n").map(String.init)
    }

    func testAgentKeepsTheDefaultPoliciesUnlessToldWhich() throws {
        let policies = Self.root + "/policies"
        XCTAssertEqual(try command([]), ["agent", "--policy-dir", policies, "--netpolicy-dir", "/etc/vigil/netpolicies", "--export-stdout"])
        let withExport = try command(["agent", "--export-file", "/var/log/vigil/events.json"])
        XCTAssertTrue(withExport.contains(policies), "an export flag does not drop the default policies: \(withExport)")
        XCTAssertFalse(try command(["agent", "--policy", "x.yaml"]).contains(policies), "an explicit policy replaces the defaults")
        XCTAssertFalse(try command(["agent", "--no-default-policies"]).contains("--no-default-policies"), "the run script's own flag stays with it")
        XCTAssertEqual(try command(["probe"]), ["probe"])
    }
}
