import XCTest

@testable import AgentRuntime

/// A case whose program is not installed fails as "not run", naming the program; words a
/// shell was fed are not programs the case runs.
final class StepRunnerTests: XCTestCase {
    func testMissingProgramIsTheOneTheStepNames() {
        let step = "openssl-missing-x base64 -d -in f | perl"
        XCTAssertEqual(StepRunner.missingProgram(in: "/bin/sh: 1: openssl-missing-x: not found\n", command: step), "openssl-missing-x")
        XCTAssertEqual(StepRunner.missingProgram(in: "bash: openssl-missing-x: command not found\n", command: step), "openssl-missing-x")
        XCTAssertEqual(StepRunner.missingProgram(in: "sh: line 1: openssl-missing-x: command not found\n", command: step), "openssl-missing-x")
        // installed programs, paths and words fed to a shell are not missing programs
        XCTAssertNil(StepRunner.missingProgram(in: "/bin/sh: 1: perl: not found\n", command: step), "perl is on PATH")
        XCTAssertNil(StepRunner.missingProgram(in: "/bin/sh: 1: Trying: not found\n", command: "telnet h 1 | /bin/sh"), "a banner fed to sh")
        XCTAssertNil(StepRunner.missingProgram(in: "/bin/sh: 1: /tmp/x/gone: not found\n", command: "/tmp/x/gone"), "a path")
        XCTAssertNil(StepRunner.missingProgram(in: "grep: x: not found\n", command: "grep x"), "not a shell's message")
        XCTAssertNil(StepRunner.missingProgram(in: "/bin/sh: 1: ssl: not found\n", command: "openssl x"), "a name inside another")
    }
}
