import Foundation
import XCTest

// kernel-test-host-only: the export through a real rsyslog: user space (the guests share two emulated cores)
/// examples/siem/rsyslog-vigil.conf as written (only the file, the collector's address and
/// the work directory changed), run by a real rsyslogd that tails a real agent's export and
/// forwards to a collector on loopback: every forwarded message is the exported JSON line,
/// whole, the long ones (over rsyslog's default 8 KiB) too.
final class SIEMForwardingTests: XCTestCase {
    static let repository = TetragonAPITests.repository

    /// Accepts one TCP connection on 127.0.0.1 and collects what it sends.
    final class Collector: @unchecked Sendable {
        let fd: Int32
        let port: Int
        private let lock = NSLock()
        private var received = Data()

        init() throws {
            let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var one: Int32 = 1
            setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let ok = withUnsafeMutablePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, len) == 0 && getsockname(s, $0, &len) == 0 }
            }
            guard ok, listen(s, 4) == 0 else { throw KernelTest.Stop(reason: "collector cannot listen") }
            fd = s
            port = Int(UInt16(bigEndian: addr.sin_port))
            Thread.detachNewThread { [self] in
                while true {
                    let c = accept(s, nil, nil)
                    if c < 0 { return }
                    var buf = [UInt8](repeating: 0, count: 65536)
                    while true {
                        let n = read(c, &buf, buf.count)
                        if n <= 0 { break }
                        self.lock.withLock { self.received.append(contentsOf: buf[0..<n]) }
                    }
                    close(c)
                }
            }
        }

        var lines: [String] { lock.withLock { String(decoding: received, as: UTF8.self).split(separator: "\n").map(String.init) } }
        func stop() {
            shutdown(fd, Int32(SHUT_RDWR))
            close(fd)
        }
    }

    func testRsyslogForwardsEveryLineWholeEvenOver8KiB() throws {
        try KernelTest.require(.tracepoint)
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/rsyslogd") else {
            XCTFail("rsyslog missing: run scripts/install-deps.sh --test")
            return
        }
        let agent = try AgentHarness(extraArguments: ["--enable-ancestors"])
        let collector = try Collector()
        defer { collector.stop() }
        let work = agent.directory + "/rsyslog"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        // the example as shipped, pointed at this agent's export and this collector
        var example = try String(contentsOfFile: Self.repository + "/examples/siem/rsyslog-vigil.conf", encoding: .utf8)
        example = example.replacingOccurrences(of: "/var/log/vigil/events.json", with: agent.exportPath)
        example = example.replacingOccurrences(of: #"target="siem.example.internal" port="514""#, with: #"target="127.0.0.1" port="\#(collector.port)""#)
        XCTAssertTrue(example.contains("127.0.0.1"), "the example's collector address moved; update this test")
        try example.write(toFile: work + "/vigil.conf", atomically: true, encoding: .utf8)
        // as Debian's rsyslog.conf does: an input module loaded first, then the snippet included
        let main = """
            global(workDirectory="\(work)")
            module(load="imuxsock" SysSock.Use="off")
            include(file="\(work)/vigil.conf")
            """
        try main.write(toFile: work + "/rsyslog.conf", atomically: true, encoding: .utf8)
        let rsyslog = Process()
        rsyslog.executableURL = URL(fileURLWithPath: "/usr/sbin/rsyslogd")
        rsyslog.arguments = ["-n", "-f", work + "/rsyslog.conf", "-i", work + "/rsyslogd.pid"]
        let err = Pipe()
        rsyslog.standardError = err
        rsyslog.standardOutput = err
        try rsyslog.run()
        defer {
            rsyslog.terminate()
            rsyslog.waitUntilExit()
        }
        // an exec whose line is over 12 KiB: deep in a chain of shells with long arguments,
        // each an ancestor in the event (--enable-ancestors)
        let chain = agent.directory + "/chain.sh"
        try #"""
        n=$1; shift
        if [ "$n" -gt 0 ]; then /bin/sh "$0" $((n-1)) "$@"; exit $?; else exec /usr/bin/true "$@"; fi
        """#.write(toFile: chain, atomically: true, encoding: .utf8)
        let long = (0..<40).map { "argument-\($0)-" + String(repeating: "x", count: 40) }
        let started = try KernelTest.run("/bin/sh", [chain, "16"] + long)
        XCTAssertEqual(started.status, 0)
        let events = try agent.waitForEvents("process_exec") { evs in
            evs.contains { ($0.process["binary"] as? String) == "/usr/bin/true" && ($0.body["ancestors"] as? [Any])?.count ?? 0 > 10 }
        }
        let deepest = try XCTUnwrap(events.first { ($0.process["binary"] as? String) == "/usr/bin/true" && ($0.body["ancestors"] as? [Any])?.count ?? 0 > 10 })
        let run = (pid: Int32(deepest.pid), status: Int32(0))
        let exported = try agent.waitForEvents("process_exec") { evs in evs.contains { $0.pid == Int(run.pid) } }
        XCTAssertTrue(exported.contains { $0.pid == Int(run.pid) })
        let exportLine = try XCTUnwrap(
            try String(contentsOfFile: agent.exportPath, encoding: .utf8).split(separator: "\n").first {
                $0.contains("\"pid\":\(run.pid),") && $0.contains("process_exec")
            })
        XCTAssertGreaterThan(exportLine.utf8.count, 8192, "the test line is over rsyslog's default limit")

        let deadline = Date().addingTimeInterval(30)
        var forwarded: String?
        repeat {
            forwarded = collector.lines.first { $0.contains("\"pid\":\(run.pid),") && $0.contains("process_exec") }
            if forwarded == nil { usleep(200_000) }
        } while forwarded == nil && Date() < deadline && rsyslog.isRunning
        let message = try XCTUnwrap(
            forwarded,
            "rsyslog forwarded nothing of the exec (its output: \(rsyslog.isRunning ? "running" : String(decoding: err.fileHandleForReading.availableData, as: UTF8.self)))"
        )
        // "<PRI>1 TIME HOST vigil - - - " then the JSON, untouched
        let body = try XCTUnwrap(message.range(of: " vigil - - - ").map { String(message[$0.upperBound...]) })
        XCTAssertEqual(body, String(exportLine), "the forwarded JSON is the exported line, whole (\(body.utf8.count) of \(exportLine.utf8.count) bytes)")
        XCTAssertNotNil(try? JSONSerialization.jsonObject(with: Data(body.utf8)))
        // and every forwarded message is valid JSON
        for line in collector.lines {
            guard let r = line.range(of: " vigil - - - ") else { continue }
            XCTAssertNotNil(try? JSONSerialization.jsonObject(with: Data(line[r.upperBound...].utf8)), "invalid JSON forwarded: \(line.prefix(200))")
        }
    }
}
