import AgentCore
import Sensors
import XCTest

/// The pipeline join, both exec orders, and what it must not join.
final class PipelineDetectorTests: XCTestCase {
    func entry(_ binary: String, pid: UInt32) -> ProcessEntry { ProcessEntry(id: ExecIdentity(ktime: UInt64(pid), pid: pid), parent: nil, binary: binary) }

    func testDownloadPipedToShellEitherOrder() {
        var d = PipelineDetector()
        XCTAssertNil(d.observe(entry("/usr/bin/curl", pid: 10), stdinPipe: 0, stdoutPipe: 0xabc, timeNs: 1))
        let m = d.observe(entry("/usr/bin/dash", pid: 11), stdinPipe: 0xabc, stdoutPipe: 0, timeNs: 2)
        XCTAssertEqual(m?.source.pid, 10)
        XCTAssertEqual(m?.shell.pid, 11)
        XCTAssertNil(d.observe(entry("/usr/bin/python3.11", pid: 21), stdinPipe: 0xdef, stdoutPipe: 0, timeNs: 3))
        XCTAssertEqual(
            d.observe(entry("/usr/bin/wget", pid: 20), stdinPipe: 0, stdoutPipe: 0xdef, timeNs: 4)?.shell.pid, 21, "python3.11 counts as an interpreter")
    }

    func testOtherPipesAndStaleEndsDoNotJoin() {
        var d = PipelineDetector()
        XCTAssertNil(d.observe(entry("/usr/bin/cat", pid: 1), stdinPipe: 0, stdoutPipe: 0x1, timeNs: 1))
        XCTAssertNil(d.observe(entry("/usr/bin/bash", pid: 2), stdinPipe: 0x1, stdoutPipe: 0, timeNs: 2), "cat is not a download tool")
        XCTAssertNil(d.observe(entry("/usr/bin/curl", pid: 3), stdinPipe: 0, stdoutPipe: 0x2, timeNs: 3))
        XCTAssertNil(d.observe(entry("/usr/bin/less", pid: 4), stdinPipe: 0x2, stdoutPipe: 0, timeNs: 4), "less is not a shell")
        XCTAssertNil(d.observe(entry("/usr/bin/curl", pid: 5), stdinPipe: 0, stdoutPipe: 0x3, timeNs: 5))
        XCTAssertNil(d.observe(entry("/usr/bin/sh", pid: 6), stdinPipe: 0x3, stdoutPipe: 0, timeNs: 5 + 11_000_000_000), "more than 10 s apart")
    }

    func testPipedShellIntoNetworkToolEitherOrder() {
        // cat f | sh -i | nc HOST PORT > f
        var d = PipelineDetector()
        XCTAssertNil(d.observe(entry("/usr/bin/cat", pid: 1), stdinPipe: 0, stdoutPipe: 0x10, timeNs: 1))
        XCTAssertNil(d.observe(entry("/usr/bin/nc.openbsd", pid: 3), stdinPipe: 0x11, stdoutPipe: 0x99, timeNs: 2))
        let m = d.observe(entry("/usr/bin/dash", pid: 2), stdinPipe: 0x10, stdoutPipe: 0x11, timeNs: 3)
        XCTAssertEqual(m?.kind, .shellToNetwork)
        XCTAssertEqual(m?.shell.pid, 2)
        XCTAssertEqual(m?.source.pid, 3)
        XCTAssertNil(d.observe(entry("/usr/bin/bash", pid: 4), stdinPipe: 0x20, stdoutPipe: 0x21, timeNs: 4))
        XCTAssertEqual(d.observe(entry("/usr/bin/telnet.netkit", pid: 5), stdinPipe: 0x21, stdoutPipe: 0, timeNs: 5)?.shell.pid, 4)
    }

    func testEndsReportedOutOfTimeOrderStillJoin() {
        // two CPUs: the end that exec'd later can reach the ring first
        var d = PipelineDetector()
        XCTAssertNil(d.observe(entry("/usr/bin/nc.openbsd", pid: 3), stdinPipe: 0x11, stdoutPipe: 0x99, timeNs: 5_000))
        XCTAssertEqual(d.observe(entry("/usr/bin/dash", pid: 2), stdinPipe: 0x10, stdoutPipe: 0x11, timeNs: 4_990)?.kind, .shellToNetwork)
        XCTAssertNil(d.observe(entry("/usr/bin/bash", pid: 5), stdinPipe: 0x20, stdoutPipe: 0, timeNs: 7_000))
        XCTAssertEqual(d.observe(entry("/usr/bin/curl", pid: 4), stdinPipe: 0, stdoutPipe: 0x20, timeNs: 6_999)?.kind, .download)
        XCTAssertNil(d.observe(entry("/usr/bin/curl", pid: 6), stdinPipe: 0, stdoutPipe: 0x30, timeNs: 20_000_000_000))
        XCTAssertNil(d.observe(entry("/usr/bin/sh", pid: 7), stdinPipe: 0x30, stdoutPipe: 0, timeNs: 1), "more than 10 s apart, earlier")
    }

    func testShellOutputIntoNetworkToolNeedsAPipedInput() {
        var d = PipelineDetector()
        // `report.sh | nc HOST PORT` from a terminal: the shell's input is not a pipe
        XCTAssertNil(d.observe(entry("/usr/bin/bash", pid: 1), stdinPipe: 0, stdoutPipe: 0x30, timeNs: 1))
        XCTAssertNil(d.observe(entry("/usr/bin/nc", pid: 2), stdinPipe: 0x30, stdoutPipe: 0, timeNs: 2))
        // a piped shell writing into a program that is not a network tool
        XCTAssertNil(d.observe(entry("/usr/bin/sh", pid: 3), stdinPipe: 0x40, stdoutPipe: 0x41, timeNs: 3))
        XCTAssertNil(d.observe(entry("/usr/bin/gzip", pid: 4), stdinPipe: 0x41, stdoutPipe: 0, timeNs: 4))
        // an interpreter is not a shell for this rule (python3 | nc is a program's output)
        XCTAssertNil(d.observe(entry("/usr/bin/python3", pid: 5), stdinPipe: 0x50, stdoutPipe: 0x51, timeNs: 5))
        XCTAssertNil(d.observe(entry("/usr/bin/ncat", pid: 6), stdinPipe: 0x51, stdoutPipe: 0, timeNs: 6))
    }

    func testDecoderAndDownloadKinds() {
        var d = PipelineDetector()
        XCTAssertNil(d.observe(entry("/usr/bin/base64", pid: 1), stdinPipe: 0, stdoutPipe: 0x60, timeNs: 1))
        XCTAssertEqual(d.observe(entry("/usr/bin/bash", pid: 2), stdinPipe: 0x60, stdoutPipe: 0, timeNs: 2)?.kind, .decoder)
        XCTAssertNil(d.observe(entry("/usr/bin/sh", pid: 3), stdinPipe: 0x61, stdoutPipe: 0, timeNs: 3))
        XCTAssertEqual(d.observe(entry("/usr/bin/wget", pid: 4), stdinPipe: 0, stdoutPipe: 0x61, timeNs: 4)?.kind, .download)
        XCTAssertNil(d.observe(entry("/usr/bin/nc.openbsd", pid: 5), stdinPipe: 0, stdoutPipe: 0x62, timeNs: 5))
        XCTAssertEqual(d.observe(entry("/usr/bin/sh", pid: 6), stdinPipe: 0x62, stdoutPipe: 0, timeNs: 6)?.kind, .networkToShell, "nc HOST PORT | sh")
        XCTAssertNil(d.observe(entry("/usr/bin/openssl", pid: 7), stdinPipe: 0, stdoutPipe: 0x63, timeNs: 7))
        XCTAssertEqual(d.observe(entry("/usr/bin/sh", pid: 8), stdinPipe: 0x63, stdoutPipe: 0, timeNs: 8)?.kind, .decoder, "openssl base64 -d | sh")
    }

    func testReverseShellSigns() {
        let sh = entry("/usr/bin/sh", pid: 1)
        let python = entry("/usr/bin/python3.11", pid: 2)
        XCTAssertEqual(PipelineDetector.reverseShellSign(sh, stdioSocket: true, parentStdioSocket: false, parent: python), .stdioSocket)
        XCTAssertEqual(PipelineDetector.reverseShellSign(sh, stdioSocket: false, parentStdioSocket: true, parent: python), .parentStdioSocket)
        XCTAssertNil(PipelineDetector.reverseShellSign(sh, stdioSocket: false, parentStdioSocket: false, parent: python))
        XCTAssertNil(
            PipelineDetector.reverseShellSign(
                entry("/usr/bin/bash", pid: 3), stdioSocket: false, parentStdioSocket: true, parent: entry("/usr/sbin/sshd", pid: 4)),
            "a login over a socket-activated sshd")
        XCTAssertEqual(
            PipelineDetector.reverseShellSign(sh, stdioSocket: false, parentStdioSocket: true, parent: entry("/tmp/sshd", pid: 5)), .parentStdioSocket,
            "a copy named sshd is not sshd")
        XCTAssertNil(PipelineDetector.reverseShellSign(python, stdioSocket: true, parentStdioSocket: true, parent: sh), "python is not a shell")
    }
}
