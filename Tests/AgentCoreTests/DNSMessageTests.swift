import AgentCore
import Sensors
import XCTest

/// The DNS parser against hand-made messages, including hostile ones: it must never trap.
final class DNSMessageTests: XCTestCase {
    static func name(_ n: String) -> [UInt8] { n.split(separator: ".").flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) } + [0] }

    static let response: [UInt8] =
        [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0] + name("www.example.com") + [0, 1, 0, 1]
        + [0xc0, 0x0c, 0, 5, 0, 1, 0, 0, 0, 30, 0, 6] + [3] + Array("web".utf8) + [0xc0, 0x10]  // CNAME web.example.com
        + [0xc0, 0x2d, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7]  // A 192.0.2.7 (name: the CNAME target)
        + [0xc0, 0x2d, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16] + [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]

    func testResponseWithCompressionCnameAndAddresses() throws {
        let m = try XCTUnwrap(DNSMessage.parse(Self.response))
        XCTAssertEqual(m.id, 0x1234)
        XCTAssertTrue(m.isResponse)
        XCTAssertEqual(DNSMessage.rcodeName(m.rcode), "NOERROR")
        XCTAssertEqual(m.questions.map(\.name), ["www.example.com"])
        XCTAssertEqual(m.answers.map(\.data), ["web.example.com", "192.0.2.7", "2001:db8::1"])
        XCTAssertEqual(m.answers.map { DNSMessage.typeName($0.type) }, ["CNAME", "A", "AAAA"])
        XCTAssertEqual(m.answers[1].name, "web.example.com")
        XCTAssertFalse(m.incomplete)
    }

    func testCutMessageIsMarkedIncomplete() throws {
        let m = try XCTUnwrap(DNSMessage.parse(Array(Self.response.prefix(40))))
        XCTAssertTrue(m.incomplete)
        XCTAssertEqual(m.questions.count, 1)
    }

    func testPointerLoopsAndForwardPointersAreRefused() throws {
        // the question name points at itself
        let loop: [UInt8] = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]
        XCTAssertEqual(DNSMessage.parse(loop)?.incomplete, true)
        XCTAssertNil(DNSMessage.parse([1, 2, 3]))
    }

    func testRandomBytesNeverTrap() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let n = Int.random(in: 0...80, using: &rng)
            var b = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if b.count > 7 {
                b[5] = UInt8.random(in: 0...3)
                b[7] = UInt8.random(in: 0...3)
                b[4] = 0
                b[6] = 0
            }
            _ = DNSMessage.parse(b)
        }
    }
}

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
}
