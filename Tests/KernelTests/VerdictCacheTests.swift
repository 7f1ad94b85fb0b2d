import Foundation
import XCTest

/// The verdict cache (bpf/include/hook_verdicts.h) never answers for a file that changed: after
/// a file was judged "not watched" (and that verdict kept), each way of making the same dentry
/// a watched file is caught at the next open: its directory moved under the watched prefix, a
/// directory above it renamed in place, the name made a hardlink of a watched file, the file
/// system moved under the watched prefix. And a kept "watched" verdict still posts every open.
final class VerdictCacheTests: XCTestCase {
    static func policy(name: String, prefix: String, equal: String) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: \(name)
        spec:
          tracepoints:
          - subsystem: syscalls
            event: sys_enter_openat
            args:
            - index: 5
              type: int
            - index: 6
              type: string
            selectors:
            - matchArgs:
              - index: 1
                operator: Prefix
                values: ["\(prefix)"]
            - matchArgs:
              - index: 1
                operator: Equal
                values: ["\(equal)"]
        """
    }

    /// Opens `path` (one openat by a short-lived cat) `times` times.
    func open(_ path: String, times: Int = 3) throws {
        for _ in 0..<times { _ = try KernelTest.run("/bin/cat", [path]) }
    }

    func testAKeptVerdictNeverOutlivesAChangeOfTheFile() throws {
        try KernelTest.require(.tracepoint)
        try KernelTest.requireRoot()
        let dir = try KernelTest.scratchDirectory()
        defer {
            _ = try? KernelTest.run("/bin/umount", ["-l", dir + "/watched/fs"])
            _ = try? KernelTest.run("/bin/umount", ["-l", dir + "/fs"])
            try? FileManager.default.removeItem(atPath: dir)
        }
        let fm = FileManager.default
        for d in ["watched", "other/d", "w-old", "fs"] { try fm.createDirectory(atPath: dir + "/" + d, withIntermediateDirectories: true) }
        for f in ["other/d/f", "w-old/f", "secret", "plain"] { fm.createFile(atPath: dir + "/" + f, contents: Data("x\n".utf8)) }
        let agent = try AgentHarness(policies: [Self.policy(name: "verdict-cache", prefix: dir + "/watched/", equal: dir + "/secret")])
        defer { agent.stop() }
        func posted(_ path: String) throws -> Int {
            try agent.events().filter { $0.kind == "process_tracepoint" && PolicyTracepointTests.path($0) == path }.count
        }
        func expectEvent(_ path: String, _ why: String, file: StaticString = #filePath, line: UInt = #line) throws {
            let deadline = Date().addingTimeInterval(KernelTest.eventTimeout)
            while try posted(path) == 0 && Date() < deadline {
                try open(path, times: 1)
                usleep(200_000)
            }
            XCTAssertGreaterThan(try posted(path), 0, why, file: file, line: line)
        }

        // a watched file: every open posts, the kept verdict included
        try open(dir + "/watched/../secret", times: 4)
        let seen = try agent.waitForEvents("process_tracepoint") { evs in evs.filter { PolicyTracepointTests.path($0) == dir + "/secret" }.count >= 4 }
        XCTAssertEqual(seen.filter { PolicyTracepointTests.path($0) == dir + "/secret" }.count, 4, "each of four opens of the watched file posts")

        // 1. its directory moved under the watched prefix
        try open(dir + "/other/d/f")
        XCTAssertEqual(rename(dir + "/other/d", dir + "/watched/d"), 0)
        try expectEvent(dir + "/watched/d/f", "the file's directory moved under the prefix")

        // 2. a directory above it renamed in place (same parent, new name)
        try open(dir + "/w-old/f")
        try fm.removeItem(atPath: dir + "/watched")
        XCTAssertEqual(rename(dir + "/w-old", dir + "/watched"), 0)
        try expectEvent(dir + "/watched/f", "a directory above the file renamed to the watched name")

        // 3. a name judged as an unrelated file, then made a hardlink of the watched file
        try open(dir + "/plain")
        try fm.removeItem(atPath: dir + "/plain")
        XCTAssertEqual(link(dir + "/secret", dir + "/plain"), 0)
        try expectEvent(dir + "/plain", "the same name, now a hardlink of the watched file")

        // 4. the file system moved: a tmpfs judged outside, then moved under the prefix
        XCTAssertEqual(try KernelTest.run("/bin/mount", ["-t", "tmpfs", "vigil-verdict", dir + "/fs"]).status, 0)
        fm.createFile(atPath: dir + "/fs/f", contents: Data("x\n".utf8))
        usleep(2_500_000)  // the agent knows the new file system's root (it rereads the mounts every 2 s)
        try open(dir + "/fs/f")
        try fm.createDirectory(atPath: dir + "/watched/fs", withIntermediateDirectories: true)
        XCTAssertEqual(try KernelTest.run("/bin/mount", ["--move", dir + "/fs", dir + "/watched/fs"]).status, 0)
        // the agent rereads the mounts every 2 s; the walk judges by its table, kept verdict or not
        try expectEvent(dir + "/watched/fs/f", "the file system moved under the prefix")
        XCTAssertEqual(try posted(dir + "/fs/f"), 0, "nothing while it was outside")
    }
}
