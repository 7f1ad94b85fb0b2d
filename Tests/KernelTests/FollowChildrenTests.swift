import CVigilABI
import Foundation
import PolicyEngine
import PolicyYAML
import Sensors
import XCTest

// kernel-test-host-only: process tracking on the host's tracepoint tier; every guest suite loads the same sensor (the guests share two emulated cores)
/// matchBinaries `followChildren` through the real agent (every tier: the bit is set by the
/// process sensor at exec and copied at fork, the hooks only test it): a followed binary's
/// children, grandchildren and reparented orphans are followed, processes of other binaries
/// (the same program under another inode included) are not, and a process already running
/// when the policy loads is followed too.
final class FollowChildrenTests: XCTestCase {
    /// An openat hook on `canary` for processes of `leader` and its descendants (In), or for
    /// everything but them (NotIn).
    static func policy(name: String, canary: String, leader: String, notIn: Bool) -> String {
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
            - index: 6
              type: string
            selectors:
            - matchArgs:
              - index: 0
                operator: Equal
                values: ["\(canary)"]
              matchBinaries:
              - operator: \(notIn ? "NotIn" : "In")
                values: ["\(leader)"]
                followChildren: true
        """
    }

    func testDescendantsOfAFollowedBinaryAreMatchedWhateverTheirAncestryBecame() throws {
        try KernelTest.require(.tracepoint)
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // the leader: a shell of its own inode, so /bin/sh itself is not followed
        let leader = dir + "/leader"
        try FileManager.default.copyItem(atPath: URL(fileURLWithPath: "/bin/sh").resolvingSymlinksInPath().path, toPath: leader)
        func canary(_ name: String) -> String {
            let path = "\(dir)/\(name)"
            FileManager.default.createFile(atPath: path, contents: Data("x\n".utf8))
            return path
        }
        let (child, grandchild, orphan, early, plain, twin, excluded, others) = (
            canary("child"), canary("grandchild"), canary("orphan"), canary("early"), canary("plain"), canary("twin"), canary("excluded"),
            canary("others")
        )
        let cat = PolicyTracepointTests.cat
        // a leader already running when the agent starts: it opens its canary on a signal file
        let go = dir + "/go"
        let running = Process()
        running.executableURL = URL(fileURLWithPath: leader)
        running.arguments = ["-c", "while [ ! -e \(go) ]; do sleep 0.05; done; \(cat) \(early) >/dev/null"]
        try running.run()
        defer { if running.isRunning { running.terminate() } }

        let agent = try AgentHarness(policies: [
            Self.policy(name: "follow-in", canary: "\(dir)/", leader: leader, notIn: false)
                .replacingOccurrences(of: "operator: Equal", with: "operator: Prefix"),
            Self.policy(name: "follow-not-in", canary: excluded, leader: leader, notIn: true),
        ])
        defer { agent.stop() }
        func run(_ program: String, _ script: String) throws {
            let r = try KernelTest.run(program, ["-c", script])
            XCTAssertEqual(r.status, 0, "\(program) -c \(script): \(r.stderr)")
        }
        try run(leader, "\(cat) \(child) >/dev/null")
        try run(leader, "/bin/sh -c '\(cat) \(grandchild) >/dev/null'")
        // the middle process exits at once: the cat is an orphan, reparented, and still followed
        try run(leader, "/bin/sh -c 'sleep 0.3; \(cat) \(orphan) >/dev/null' & exit 0")
        FileManager.default.createFile(atPath: go, contents: nil)
        running.waitUntilExit()
        try run("/bin/sh", "\(cat) \(plain) >/dev/null")
        // the same program as the leader under its own inode is not the leader
        let twinPath = dir + "/twin-shell"
        try FileManager.default.copyItem(atPath: leader, toPath: twinPath)
        try run(twinPath, "\(cat) \(twin) >/dev/null")
        // NotIn: the leader's descendants are left out, everyone else matches
        try run(leader, "\(cat) \(excluded) >/dev/null")
        try run("/bin/sh", "\(cat) \(excluded) >/dev/null; \(cat) \(others) >/dev/null")
        usleep(500_000)  // the orphan's sleep

        let events = try agent.barrier().filter { $0.kind == "process_tracepoint" }
        func count(_ policy: String, _ path: String) -> Int {
            events.filter { $0.body["policy_name"] as? String == policy && "\($0.args)".contains(path) }.count
        }
        XCTAssertEqual(count("follow-in", child), 1, "the leader's child")
        XCTAssertEqual(count("follow-in", grandchild), 1, "its grandchild")
        XCTAssertEqual(count("follow-in", orphan), 1, "an orphan whose parent exited before it opened")
        XCTAssertEqual(count("follow-in", early), 1, "a child of a leader that ran before the policy loaded")
        XCTAssertEqual(count("follow-in", plain), 0, "a shell that is not the leader")
        XCTAssertEqual(count("follow-in", twin), 0, "a copy of the leader is another binary")
        XCTAssertEqual(count("follow-in", others), 0, "not under the leader")
        XCTAssertEqual(count("follow-not-in", excluded), 1, "NotIn: only the open from outside the leader's tree")
        XCTAssertEqual(count("follow-not-in", others), 0, "the NotIn policy watches its own canary only")
        let fromLeader = events.filter { $0.body["policy_name"] as? String == "follow-not-in" }.compactMap { $0.process["binary"] as? String }
        XCTAssertFalse(fromLeader.contains(leader), "\(fromLeader)")
    }

    /// A slot is the policy's while it is loaded: its binary in the sensor's map and its bit on
    /// the running leader; unloaded, both are gone (a later policy taking the slot starts clean),
    /// and two hooks following the same list share one slot.
    func testASlotIsTakenAtLoadAndClearedEverywhereAtUnload() throws {
        try KernelTest.require(.tracepoint)
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let leader = dir + "/leader"
        try FileManager.default.copyItem(atPath: URL(fileURLWithPath: "/bin/sh").resolvingSymlinksInPath().path, toPath: leader)
        let yaml = Self.policy(name: "follow-slot", canary: dir + "/canary", leader: leader, notIn: false)
            .replacingOccurrences(
                of: "          - subsystem: syscalls",
                with: """
                          - subsystem: syscalls
                            event: sys_enter_openat2
                            args:
                            - index: 6
                              type: string
                            selectors:
                            - matchArgs:
                              - index: 0
                                operator: Equal
                                values: ["\(dir)/canary"]
                              matchBinaries:
                              - operator: In
                                values: ["\(leader)"]
                                followChildren: true
                          - subsystem: syscalls
                    """)
        let sensor = try ProcessSensor(ringBufferBytes: 1 << 20)
        try sensor.attach()
        // started with the sensor attached, before the policy: in the table, not yet followed
        let running = Process()
        running.executableURL = URL(fileURLWithPath: leader)
        running.arguments = ["-c", "sleep 30"]
        try running.run()
        defer { running.terminate() }
        let processes = try sensor.processesMap()
        let follow = { (try? processes.lookup(UInt32(running.processIdentifier), as: vigil_process.self))?.follow }
        let inTable = Date().addingTimeInterval(5)
        while follow() == nil && Date() < inTable { usleep(20_000) }
        XCTAssertEqual(follow(), 0, "in the table, no slot yet")
        let manager = PolicyManager(shared: .init(try sensor.sharedMaps()))
        try manager.load(XCTUnwrap(PolicyLoader.parse(Array(yaml.utf8), file: "follow-slot.yaml").policies.first))
        XCTAssertEqual(manager.shared.follow.inUse, 1, "two hooks following one list share a slot")
        XCTAssertNotEqual(follow(), 0, "the leader that ran before the load is marked")
        XCTAssertEqual(try manager.shared.kernel.followBinaries.keys().count, 1)
        XCTAssertTrue(manager.unload(name: "follow-slot"))
        XCTAssertEqual(manager.shared.follow.inUse, 0)
        XCTAssertEqual(follow(), 0, "unloaded: the bit is off the leader")
        XCTAssertEqual(try manager.shared.kernel.followBinaries.keys().count, 0, "and its binary out of the map")
    }
}
