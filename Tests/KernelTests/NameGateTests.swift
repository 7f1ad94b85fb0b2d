import Foundation
import XCTest

// kernel-test-host-only: the name gate's counters and timing; the guests' attack suites load gated programs on BPF-LSM and tracepoints (the guests share two emulated cores)
/// The name gate (PolicyEngine/NameGate.swift): a file hook whose filters are Equal and Postfix
/// values tests the opened file's own name before it walks the file's dentries to its global
/// path. What it must keep: every match (by name, by identity for a hardlink under another
/// name); what it must save: the walk for the opens no value can name.
final class NameGateTests: XCTestCase {
    static let python = URL(fileURLWithPath: "/usr/bin/python3").resolvingSymlinksInPath().path

    static func policy(equal: String) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata: {name: name-gate}
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
                operator: Postfix
                values: ["/.vigil_gate_history"]
              matchBinaries:
              - operator: In
                values: ["\(python)"]
            - matchArgs:
              - index: 1
                operator: Equal
                values: ["\(equal)"]
              matchBinaries:
              - operator: In
                values: ["\(python)"]
        """
    }

    /// Opens each path given (read-only) and closes it, `rounds` times over.
    static let opener = "import os, sys\nfor _ in range(int(sys.argv[1])):\n    for p in sys.argv[2:]:\n        os.close(os.open(p, os.O_RDONLY))\n"

    func testMatchesKeptAndWalksSavedForNamesNoValueEnds() throws {
        try KernelTest.require(.tracepoint)
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        for name in ["named", "sub/named", ".vigil_gate_history", "x.vigil_gate_history"] + (0..<10).map({ "other-\($0)" }) {
            FileManager.default.createFile(atPath: dir + "/" + name, contents: Data("x\n".utf8))
        }
        // the named file under another name: matched by identity, which the gate must not lose
        XCTAssertEqual(link(dir + "/named", dir + "/alias"), 0)
        let agent = try AgentHarness(policies: [Self.policy(equal: dir + "/named")])

        let hits = try KernelTest.run(Self.python, ["-c", Self.opener, "1", dir + "/named", dir + "/alias", dir + "/.vigil_gate_history"])
        let near = try KernelTest.run(Self.python, ["-c", Self.opener, "1", dir + "/sub/named", dir + "/x.vigil_gate_history"])
        XCTAssertEqual(hits.status, 0, hits.stderr)
        XCTAssertEqual(near.status, 0, near.stderr)
        func paths(_ pid: Int32, _ events: [[String: Any]]) -> [String] {
            events.filter { $0.pid == Int(pid) }.compactMap(PolicyTracepointTests.path)
        }
        let events = try agent.waitForEvents("process_tracepoint") { paths(hits.pid, $0).count >= 3 }
        XCTAssertEqual(
            Set(paths(hits.pid, events)), [dir + "/named", dir + "/alias", dir + "/.vigil_gate_history"],
            "the named file, its hardlink (another name: matched by identity) and the Postfix match")
        XCTAssertEqual(paths(hits.pid, events).count, 3, "three opens, three events: \(paths(hits.pid, events))")
        XCTAssertEqual(paths(near.pid, events), [], "a file of the same name elsewhere and a name that only ends like the value")

        // A file bind-mounted from a file system the agent does not see (a tmpfs mounted in a
        // private mount namespace): its path ends at the mountpoint, whose name the file's own
        // name ("x") is not. The gate must let a mount's root through to the walk.
        try FileManager.default.createDirectory(atPath: dir + "/hidden", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/shown", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir + "/shown/.vigil_gate_history", contents: Data())
        let script =
            "mount -t tmpfs none \(dir)/hidden && echo x > \(dir)/hidden/x && mount --bind \(dir)/hidden/x \(dir)/shown/.vigil_gate_history && exec \(Self.python) -c \"$0\" 1 \(dir)/shown/.vigil_gate_history"
        let bound = try KernelTest.run("/usr/bin/unshare", ["-m", "--propagation", "private", "sh", "-c", script, Self.opener])
        XCTAssertEqual(bound.status, 0, bound.stderr)
        let boundEvents = try agent.waitForEvents("process_tracepoint") { !paths(bound.pid, $0).isEmpty }
        XCTAssertEqual(paths(bound.pid, boundEvents), [dir + "/shown/.vigil_gate_history"], "judged by the path it is mounted at")

        // the three matches and sub/named (the right name, another file) were walked
        let before = try agent.waitForCounters { ($0["resolves"] ?? 0) >= 4 }
        // 1,000 opens of names no value ends: the file's name decides them, no walk
        let misses = try KernelTest.run(Self.python, ["-c", Self.opener, "100"] + (0..<10).map { dir + "/other-\($0)" })
        XCTAssertEqual(misses.status, 0, misses.stderr)
        let after = try agent.waitForCounters { ($0["runs"] ?? 0) >= (before["runs"] ?? 0) + 1000 }
        let walked = (after["resolves"] ?? 0) - (before["resolves"] ?? 0)
        XCTAssertLessThan(walked, 200, "1,000 opens of files no value names walked \(walked) times (without the gate: at least 1,000)")
        XCTAssertEqual(agent.stop(), 0)
    }
}
