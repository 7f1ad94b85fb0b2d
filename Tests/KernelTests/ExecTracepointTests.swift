import AgentCore
import BPFKit
import Foundation
import Sensors
import XCTest

// kernel-test-host-only: the process sensor's tracepoints, the host's own tier; every guest suite loads the same sensor
/// The process sensor (bpf/progs/process.bpf.c) loaded from Swift, in both of its tiers,
/// with its ring-buffer records read back and decoded.
final class ExecTracepointTests: XCTestCase {
    func testExecOfKnownBinaryThroughClassicTracepoints() throws {
        try KernelTest.require(.tracepoint)
        try checkExecRecord(useTracepoints: true)
    }

    func testExecOfKnownBinaryThroughTPBTF() throws {
        try KernelTest.require(.tpBTF)
        try checkExecRecord(useTracepoints: false)
    }

    /// A process that execs inside a nested cgroup reports that cgroup's path and id.
    func testCgroupPathOfAnExecInANestedCgroup() throws {
        try KernelTest.require(.tracepoint)
        let root = try XCTUnwrap(KernelFilesystems.cgroup2Root(), "cgroup v2 is mounted on every kernel Vigil supports")
        let relative = "/vigil-test-\(getpid())/inner"
        let dir = root + relative
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer {
            rmdir(dir)
            rmdir(root + "/vigil-test-\(getpid())")
        }
        let sensor = try ProcessSensor(ringBufferBytes: 1 << 20)
        try sensor.attach()
        defer { sensor.detach() }
        var execs: [ProcessRecord.ExecRecord] = []
        let ring = try RingBuffer(maps: [sensor.eventsMap()]) { bytes in
            if case .exec(let r)? = try? ProcessRecord.decode(bytes) { execs.append(r) }
            return true
        }
        let p = try KernelTest.run("/bin/sh", ["-c", "echo $$ > \(dir)/cgroup.procs && exec /bin/true cgroup-marker"])
        XCTAssertEqual(p.status, 0, p.stderr)
        try KernelTest.poll(ring) { execs.contains { $0.entry.arguments == "cgroup-marker" } }
        let r = try XCTUnwrap(execs.first { $0.entry.arguments == "cgroup-marker" })
        XCTAssertEqual(r.cgroupPath, relative)
        var st = stat()
        XCTAssertEqual(stat(dir, &st), 0)
        XCTAssertEqual(r.entry.cgroupID, UInt64(st.st_ino), "bpf_get_current_cgroup_id is the cgroup directory's inode")
    }

    /// Records do not wake the reader one by one (a wakeup costs the producing CPU an
    /// irq_work): a few execs stay quiet until the reader's own poll, and a burst past a
    /// quarter of the ring wakes it at once (bpf/include/vigil_shared_maps.h).
    func testReaderIsWokenOncePerQuarterOfTheRing() throws {
        try KernelTest.require(.tracepoint)
        let sensor = try ProcessSensor(ringBufferBytes: 64 * 1024)  // wakes every 16 KiB
        try sensor.attach()
        defer { sensor.detach() }
        var execs = 0
        let ring = try RingBuffer(maps: [sensor.eventsMap()]) { bytes in
            if case .exec? = try? ProcessRecord.decode(bytes) { execs += 1 }
            return true
        }
        let epfd = ring.epollFD
        func woken(withinMs ms: Int32) -> Bool {
            var p = pollfd(fd: epfd, events: Int16(POLLIN), revents: 0)  // the epoll fd is readable once woken
            return poll(&p, 1, ms) > 0
        }
        try ring.consume()
        // one exec record (~2.3 KiB) and its fork and exit: below the quarter
        XCTAssertEqual(try KernelTest.run("/bin/true", []).status, 0)
        XCTAssertFalse(woken(withinMs: 1000), "a single exec woke the reader")
        try ring.consume()
        XCTAssertGreaterThanOrEqual(execs, 1, "the exec record was there for the poll to find")
        // a burst of 12 execs (~28 KiB) crosses a quarter: the reader is woken before its poll
        execs = 0
        let burst = try KernelTest.run("/bin/sh", ["-c", "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do /bin/true; done"])
        XCTAssertEqual(burst.status, 0)
        XCTAssertTrue(woken(withinMs: Int32(KernelTest.eventTimeout * 1000)), "a burst past a quarter of the ring did not wake the reader")
        try ring.consume()
        XCTAssertGreaterThanOrEqual(execs, 12)
    }

    private func checkExecRecord(useTracepoints: Bool) throws {
        let sensor = try ProcessSensor(ringBufferBytes: 1 << 20, useTracepoints: useTracepoints)
        XCTAssertEqual(sensor.tier, useTracepoints ? "tracepoint" : "tp_btf")
        try sensor.attach()
        defer { sensor.detach() }
        var execs: [ProcessRecord.ExecRecord] = []
        var forks: [(pid: UInt32, ppid: UInt32)] = []
        var exits: [(UInt32, UInt32)] = []
        let ring = try RingBuffer(maps: [sensor.eventsMap()]) { bytes in
            switch try? ProcessRecord.decode(bytes) {
            case .exec(let r): execs.append(r)
            case .fork(_, _, let pid, let ppid, _): forks.append((pid, ppid))
            case .exit(_, let pid, _, let code, _): exits.append((pid, code))
            case nil: XCTFail("undecodable record of \(bytes.count) bytes")
            }
            return true
        }
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "exit 7", "vigil-arg0", "second arg"]
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        try p.run()
        let pid = UInt32(p.processIdentifier)
        p.waitUntilExit()
        try KernelTest.poll(ring) { execs.contains { $0.entry.pid == pid } && exits.contains { $0.0 == pid } }

        let r = try XCTUnwrap(execs.first { $0.entry.pid == pid }, "no exec record for \(pid)")
        XCTAssertTrue(forks.contains { $0.pid == pid }, "the fork of the child was seen")
        XCTAssertTrue(["/usr/bin/dash", "/bin/dash"].contains(r.entry.binary), "binary is the resolved executable: \(r.entry.binary)")
        XCTAssertEqual(r.entry.arguments, "-c 'exit 7' vigil-arg0 'second arg'")
        let realDir = URL(fileURLWithPath: dir).resolvingSymlinksInPath().path
        XCTAssertEqual(r.entry.cwd, realDir, "cwd from the kernel's dentry walk")
        XCTAssertEqual(r.ppid, UInt32(getpid()))
        XCTAssertEqual(r.entry.uid, getuid())
        XCTAssertEqual(r.entry.euid, geteuid())
        XCTAssertNotEqual(r.entry.caps.effective, 0, "root has capabilities")
        XCTAssertEqual(r.entry.namespaces.inodes.count, 10)
        // the child shares every namespace of ours (ABI order: VIGIL_NS_UTS ... VIGIL_NS_USER)
        for (i, name) in ["uts", "ipc", "mnt", "pid", "pid_for_children", "net", "time", "time_for_children", "cgroup", "user"].enumerated() {
            guard let own = Self.namespaceInode("/proc/self/ns/\(name)") else { continue }  // time: Linux 5.6+
            XCTAssertEqual(r.entry.namespaces.inodes[i], own, "\(name) namespace inode")
        }
        XCTAssertGreaterThan(r.entry.id.ktime, 0)
        // The child inherits our cgroup: the kernel's kernfs walk must match /proc's view.
        let own = try String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8).split(separator: "\n").first { $0.hasPrefix("0::") }
        XCTAssertEqual(r.cgroupPath, own.map { String($0.dropFirst(3)) }, "cgroup v2 path from the kernel")
        XCTAssertEqual(exits.first { $0.0 == pid }?.1, 7 << 8, "wait(2) encoding of exit 7")
        // Threads are not processes: a program that only starts threads forks nothing.
        let threads = Process()
        threads.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        threads.arguments = [
            "-c", "import threading\nts=[threading.Thread(target=lambda: None) for _ in range(5)]\n[t.start() for t in ts]\n[t.join() for t in ts]",
        ]
        try threads.run()
        let tpid = UInt32(threads.processIdentifier)
        threads.waitUntilExit()
        XCTAssertEqual(threads.terminationStatus, 0)
        try KernelTest.poll(ring) { exits.contains { $0.0 == tpid } }
        XCTAssertTrue(exits.contains { $0.0 == tpid }, "python's exit was seen")
        XCTAssertEqual(forks.filter { $0.ppid == tpid }.count, 0, "5 threads started, no process forked")
        XCTAssertEqual(exits.filter { $0.0 == tpid }.count, 1, "one exit for the whole thread group")

        // A process one pid namespace down: its pid namespace is read past level 0 (the
        // kernel's upid array at a variable index), and must be the one it sees itself.
        let marker = "vigil-pidns-\(getpid())"
        let nested = try KernelTest.run("/usr/bin/unshare", ["--pid", "--fork", "/bin/sh", "-c", "readlink /proc/self/ns/pid # \(marker)"])
        XCTAssertEqual(nested.status, 0, nested.stderr)
        let inner = try XCTUnwrap(Self.namespaceInode(fromLink: nested.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), nested.stdout)
        // unshare's own exec (in our namespace) carries the marker too: the shell is the one inside
        let isNestedShell = { (e: ProcessRecord.ExecRecord) in e.entry.arguments.contains(marker) && !e.entry.binary.hasSuffix("/unshare") }
        try KernelTest.poll(ring) { execs.contains(where: isNestedShell) }
        let n = try XCTUnwrap(execs.first(where: isNestedShell), "no exec record for the nested shell")
        XCTAssertEqual(n.entry.namespaces.inodes[3], inner, "pid namespace of a process in a child pid namespace")
        XCTAssertNotEqual(inner, Self.namespaceInode("/proc/self/ns/pid"))

        let lost = try sensor.lostCounts()
        XCTAssertEqual(lost.values.reduce(0, +), 0, "nothing lost with a 1 MiB ring")
    }

    /// The inode in a namespace link ("pid:[4026531836]").
    static func namespaceInode(fromLink link: String) -> UInt32? {
        guard let open = link.firstIndex(of: "["), let close = link.firstIndex(of: "]") else { return nil }
        return UInt32(link[link.index(after: open)..<close])
    }

    static func namespaceInode(_ path: String) -> UInt32? {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: path)).flatMap { namespaceInode(fromLink: $0) }
    }
}
