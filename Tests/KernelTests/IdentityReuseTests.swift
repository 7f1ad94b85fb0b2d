import AgentRuntime
import Foundation
import PolicyYAML
import XCTest

// kernel-test-host-only: the account tools rewrite /etc/passwd, /etc/shadow and /etc/group, which the guests share with the host over 9p (and 9p's inode numbers are not reused as ext4's are)

/// A policy never runs wider than it says when the files it names by identity are replaced:
/// ext4 gives a freed inode's number to the next file made nearby, and the account tools
/// replace /etc/shadow, /etc/group and /etc/passwd one after the other, so an old /etc/shadow's
/// number came back as a new /etc/group and `cat /etc/group` was reported as a read of
/// /etc/shadow (15 reports in this test before the agent held the named files: HeldFiles).
final class IdentityReuseTests: XCTestCase {
    func testReadingAccountFilesAfterTheToolsReplacedThemStaysQuiet() throws {
        try KernelTest.require(.tracepoint)
        let vigil = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vigil").path
        let dir = NSTemporaryDirectory() + "/vigil-identity-reuse-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let policy = ConformanceLoadTests.root.appendingPathComponent("policies/credential-access.yaml").path
        let round =
            "groupadd vigilreuseg$i; cat /etc/group /etc/passwd > /dev/null; useradd -M -s /usr/sbin/nologin -G vigilreuseg$i vigilreuse$i; "
            + "cat /etc/group /etc/passwd > /dev/null; userdel vigilreuse$i; cat /etc/group /etc/passwd > /dev/null; groupdel vigilreuseg$i; "
            + "cat /etc/group /etc/passwd > /dev/null; sleep 2.2"  // the agent re-resolves the named files every 2 s
        let suite = """
            policies: [\(policy)]
            teardown:
            - "for i in 1 2 3 4 5 6 7 8; do userdel vigilreuse$i 2>/dev/null; groupdel vigilreuseg$i 2>/dev/null; done; true"
            cases:
            - name: the account files replaced by the account tools, and read right after each
              benign: true
              steps: ["for i in 1 2 3 4 5 6 7 8; do \(round); done; true"]
            - name: /etc/shadow itself read, after the same
              class: plain name
              access: read
              steps: ["cat /etc/shadow > /dev/null"]
              expect: {event: {policy: credential-access, path: /etc/shadow}}
            """
        let path = dir + "/identity-reuse.yaml"
        try suite.write(toFile: path, atomically: true, encoding: .utf8)
        let (loaded, diagnostics) = AttackSuiteLoader.load(path: path)
        XCTAssertTrue(diagnostics.isEmpty, "\(diagnostics.map(\.description))")
        let results = try PolicyTestRunner(executable: vigil) { print($0) }.run(try XCTUnwrap(loaded))
        XCTAssertEqual(results.count, 2)
        for r in results where !r.passed { XCTFail("\(r.name): expected \(r.expected), got \(r.got) (\(r.detail))") }
    }
}
