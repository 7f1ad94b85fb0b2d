import AgentCore
import XCTest

/// Discovery bursts: one alert per session and window, sessions through shells and wrappers.
final class DiscoveryDetectorTests: XCTestCase {
    var table: [ExecIdentity: ProcessEntry] = [:]
    var next: UInt32 = 100

    func spawn(_ binary: String, parent: ProcessEntry?) -> ProcessEntry {
        next += 1
        let e = ProcessEntry(id: ExecIdentity(ktime: UInt64(next), pid: next), parent: parent?.id, binary: binary)
        table[e.id] = e
        return e
    }

    func lookup(_ p: ProcessEntry) -> ProcessEntry? { p.parent.flatMap { table[$0] } }

    func testSixDifferentCommandsFromOneShellAlertOnce() {
        var d = DiscoveryDetector()
        let sshd = spawn("/usr/sbin/sshd", parent: nil)
        let bash = spawn("/usr/bin/bash", parent: sshd)
        var bursts: [DiscoveryDetector.Burst] = []
        for (i, c) in ["id", "whoami", "id", "uname", "hostname", "ip", "ss", "ps", "getent"].enumerated() {
            if let b = d.observe(spawn("/usr/bin/\(c)", parent: bash), timeNs: UInt64(i) * 1_000_000_000, parent: lookup) { bursts.append(b) }
        }
        XCTAssertEqual(bursts.count, 1, "one alert for the burst, none for the commands after it")
        XCTAssertEqual(bursts.first?.session.id, bash.id)
        XCTAssertEqual(bursts.first?.commands, ["id", "whoami", "uname", "hostname", "ip", "ss"])
        XCTAssertEqual(bursts.first?.techniques, ["T1033", "T1082", "T1016", "T1049"])
    }

    func testCommandsReadSlightlyOutOfTimeOrderStayOneSession() {
        // commands a script starts in parallel, read from the ring a few microseconds out of order
        var d = DiscoveryDetector()
        let bash = spawn("/usr/bin/bash", parent: nil)
        var bursts = 0
        for (c, t) in [("id", 5_000), ("whoami", 4_000), ("uname", 6_000), ("hostname", 3_000), ("ip", 7_000), ("ss", 2_000)] {
            if d.observe(spawn("/usr/bin/\(c)", parent: bash), timeNs: UInt64(t), parent: lookup) != nil { bursts += 1 }
        }
        XCTAssertEqual(bursts, 1, "an earlier timestamp does not start a new session")
    }

    func testAnImplantsCommandsThroughShellsAndWrappersAreOneSession() {
        var d = DiscoveryDetector()
        let python = spawn("/usr/bin/python3.11", parent: spawn("/usr/sbin/cron", parent: nil))
        var bursts = 0
        for (i, c) in ["id", "uname", "hostname", "ip", "ss", "ps"].enumerated() {
            // os.system: python -> sh -c -> (env|timeout|xargs) -> command
            let sh = spawn("/usr/bin/dash", parent: python)
            let wrapper = spawn(["/usr/bin/env", "/usr/bin/timeout", "/usr/bin/xargs"][i % 3], parent: sh)
            if let b = d.observe(spawn("/usr/bin/\(c)", parent: wrapper), timeNs: UInt64(i), parent: lookup) {
                bursts += 1
                XCTAssertEqual(b.session.id, python.id)
            }
        }
        XCTAssertEqual(bursts, 1)
    }

    func testFewCommandsSeparateSessionsSlowSessionsAndPackageToolsStayQuiet() {
        var d = DiscoveryDetector()
        let login = spawn("/usr/bin/bash", parent: spawn("/usr/sbin/sshd", parent: nil))
        for (i, c) in ["id", "uname", "df"].enumerated() {
            XCTAssertNil(d.observe(spawn("/usr/bin/\(c)", parent: login), timeNs: UInt64(i), parent: lookup))
        }
        // six commands, each from a session of its own (six cron jobs)
        let cron = spawn("/usr/sbin/cron", parent: nil)
        for c in ["id", "uname", "hostname", "ip", "ss", "ps"] {
            XCTAssertNil(d.observe(spawn("/usr/bin/\(c)", parent: spawn("/usr/bin/sh", parent: cron)), timeNs: 10, parent: lookup))
        }
        // six commands over more than the window
        let slow = spawn("/usr/bin/bash", parent: cron)
        for (i, c) in ["id", "uname", "hostname", "ip", "ss", "ps"].enumerated() {
            XCTAssertNil(d.observe(spawn("/usr/bin/\(c)", parent: slow), timeNs: UInt64(i) * 30_000_000_000, parent: lookup))
        }
        // a package's maintainer script
        let script = spawn("/usr/bin/sh", parent: spawn("/usr/bin/dpkg", parent: spawn("/usr/bin/apt-get", parent: login)))
        for c in ["id", "uname", "hostname", "ip", "ss", "ps"] {
            XCTAssertNil(d.observe(spawn("/usr/bin/\(c)", parent: script), timeNs: 20, parent: lookup))
        }
        // commands that are not reconnaissance
        let builder = spawn("/usr/bin/bash", parent: login)
        for c in ["cc", "ld", "as", "make", "sed", "grep", "awk"] {
            XCTAssertNil(d.observe(spawn("/usr/bin/\(c)", parent: builder), timeNs: 30, parent: lookup))
        }
    }
}
