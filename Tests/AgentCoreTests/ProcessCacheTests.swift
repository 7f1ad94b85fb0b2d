import AgentCore
import Foundation
import XCTest

final class ProcessCacheTests: XCTestCase {
    private func entry(_ pid: UInt32, _ ktime: UInt64, parent: ExecIdentity? = nil) -> ProcessEntry {
        ProcessEntry(id: ExecIdentity(ktime: ktime, pid: pid), parent: parent, binary: "/bin/p\(pid)")
    }

    func testExecIDIsTetragonsEncoding() {
        XCTAssertEqual(ExecIdentity(ktime: 1234, pid: 42).execID(node: "node1"), "bm9kZTE6MTIzNDo0Mg==")  // base64("node1:1234:42")
    }

    /// The hand-written encoder against Foundation's, over every padding case and the extremes.
    func testExecIDMatchesFoundationsBase64() {
        for node in ["", "n", "no", "node", "a-much-longer-node-name.example.internal", "nœud"] {
            for (ktime, pid) in [(0 as UInt64, 0 as UInt32), (9, 1), (10, 10), (1_795_000_000_123_456_789, 4_194_304), (.max, .max)] {
                let expected = Data("\(node):\(ktime):\(pid)".utf8).base64EncodedString()
                XCTAssertEqual(ExecIdentity(ktime: ktime, pid: pid).execID(node: node), expected, "\(node):\(ktime):\(pid)")
            }
        }
    }

    func testParentLivesWhileChildrenNeedIt() {
        var cache = ProcessCache()
        let parent = entry(1, 10)
        let child = entry(2, 20, parent: parent.id)
        cache.insert(parent)
        cache.insert(child)
        cache.markExited(parent.id)
        XCTAssertNotNil(cache.entry(parent.id), "kept: the child still names it")
        XCTAssertNil(cache.current(pid: 1), "but no longer the running image of pid 1")
        XCTAssertEqual(cache.parent(of: child)?.binary, "/bin/p1")
        cache.markExited(child.id)
        XCTAssertNil(cache.entry(child.id))
        XCTAssertNil(cache.entry(parent.id), "collected with its last child")
        XCTAssertEqual(cache.count, 0)
    }

    func testExecReplacesThePreviousImageOfThePID() {
        var cache = ProcessCache()
        let shell = entry(1, 10)
        cache.insert(shell)
        var clone = entry(2, 20, parent: shell.id)
        clone.flags = .clone
        cache.insert(clone)
        let exec = entry(2, 25, parent: shell.id)
        cache.insert(exec)
        XCTAssertEqual(cache.current(pid: 2)?.id, exec.id)
        XCTAssertNil(cache.entry(clone.id), "the clone image is released by the exec")
    }

    /// The kernel's fork then exec, as the agent records them: the clone copies its parent's
    /// image under its own identity; the exec replaces it, keeps the clone flag (Tetragon's
    /// "execve clone"), and resolves a parent the kernel's table did not know by pid.
    func testForkThenExecAsTheKernelReportsThem() {
        var cache = ProcessCache()
        var shell = entry(1, 10)
        shell.flags = [.procFS]
        shell.arguments = "-l"
        cache.insert(shell)
        let child = ExecIdentity(ktime: 20, pid: 2)
        cache.recordFork(child: child, kernelParent: shell.id, pid: 2, startTimeNs: 77)
        let clone = cache.entry(child)
        XCTAssertEqual(clone?.binary, "/bin/p1", "runs the parent's image")
        XCTAssertEqual(clone?.arguments, "-l")
        XCTAssertEqual(clone?.flags, [.clone], "procFS and execve dropped, clone added")
        XCTAssertEqual(clone?.parent, shell.id)
        XCTAssertEqual(clone?.startTimeNs, 77)
        var exec = entry(2, 25)
        exec.flags = [.execve]
        let stored = cache.recordExec(exec, kernelParent: ExecIdentity(ktime: 0, pid: 1))  // the kernel's table lacked the parent
        XCTAssertEqual(stored.flags, [.execve, .clone])
        XCTAssertEqual(stored.parent, shell.id, "resolved by pid")
        XCTAssertEqual(cache.current(pid: 2), stored)
        XCTAssertNil(cache.entry(child), "the clone image is released")
        var second = entry(2, 30)
        second.flags = [.execve]
        XCTAssertEqual(
            cache.recordExec(second, kernelParent: shell.id).flags, [.execve],
            "a second exec by the same process replaces an exec'd image: not a clone (Tetragon clears the flag at the first exec)")
        let direct = cache.recordExec(entry(3, 40), kernelParent: shell.id)
        XCTAssertFalse(direct.flags.contains(.clone), "no fork seen for pid 3: no clone flag")
    }

    func testResolveParentFallsBackToThePIDsCurrentImage() {
        var cache = ProcessCache()
        let seeded = entry(7, 99)
        cache.insert(seeded)
        XCTAssertEqual(cache.resolveParent(ExecIdentity(ktime: 0, pid: 7)), seeded.id)
        XCTAssertNil(cache.resolveParent(ExecIdentity(ktime: 0, pid: 8)))
    }

    func testAncestorsNearestFirst() {
        var cache = ProcessCache()
        let a = entry(1, 1)
        let b = entry(2, 2, parent: a.id)
        let c = entry(3, 3, parent: b.id)
        let d = entry(4, 4, parent: c.id)
        for e in [a, b, c, d] { cache.insert(e) }
        XCTAssertEqual(cache.ancestors(of: d).map(\.pid), [2, 1])
    }

    func testBoundedWithEvictionCountedExitedFirst() {
        var cache = ProcessCache(capacity: 3)
        let root = entry(1, 1)
        cache.insert(root)
        let kid = entry(2, 2, parent: root.id)
        cache.insert(kid)
        cache.insert(entry(3, 3))
        cache.markExited(root.id)  // still referenced by kid
        cache.insert(entry(4, 4))
        XCTAssertEqual(cache.count, 3)
        XCTAssertEqual(cache.evictions, 1)
        XCTAssertNil(cache.entry(root.id), "the exited entry goes first")
    }

    /// A full cache sheds an eighth of its capacity at once, so the sort that picks victims
    /// runs once per capacity/8 inserts, not on every insert.
    func testFullCacheEvictsInBatches() {
        var cache = ProcessCache(capacity: 64)
        for pid in UInt32(1)...64 { cache.insert(entry(pid, UInt64(pid))) }
        XCTAssertEqual(cache.evictions, 0)
        cache.insert(entry(65, 65))
        XCTAssertEqual(cache.evictions, 8, "the excess and seven more")
        XCTAssertEqual(cache.count, 57)
        XCTAssertNil(cache.entry(ExecIdentity(ktime: 8, pid: 8)), "the oldest go")
        XCTAssertNotNil(cache.entry(ExecIdentity(ktime: 9, pid: 9)))
        XCTAssertNil(cache.current(pid: 1), "an evicted image is no pid's current one")
        for pid in UInt32(66)...72 { cache.insert(entry(pid, UInt64(pid))) }
        XCTAssertEqual(cache.evictions, 8, "room left by the batch: no eviction until full again")
        XCTAssertEqual(cache.count, 64)
    }

    /// Releasing runs up a chain of exited ancestors without recursion, collecting each.
    func testLongExitedChainIsCollected() {
        var cache = ProcessCache()
        var parent: ExecIdentity? = nil
        var ids: [ExecIdentity] = []
        for pid in UInt32(1)...20_000 {
            let e = entry(pid, UInt64(pid), parent: parent)
            cache.insert(e)
            ids.append(e.id)
            parent = e.id
        }
        for id in ids.dropLast() { cache.markExited(id) }
        XCTAssertEqual(cache.count, 20_000, "each kept by its child")
        cache.markExited(ids.last!)
        XCTAssertEqual(cache.count, 0)
    }

    func testArgumentsJoinAndContainerIDs() {
        func arguments(_ argv: String) -> String { Array(argv.utf8).withUnsafeBytes { ProcessEntry.arguments(fromArgv: $0) } }
        XCTAssertEqual(arguments("sh\0-c\0sleep 1; true\0\0"), "-c 'sleep 1; true' ''")
        XCTAssertEqual(arguments("/usr/bin/true\0--version\0"), "--version")
        XCTAssertEqual(arguments("/bin/true\0"), "", "argv[0] alone")
        XCTAssertEqual(arguments(""), "")
        XCTAssertEqual(arguments("a\0\0"), "''", "one empty argument")
        XCTAssertEqual(arguments("a\0b\0\0"), "b ''")
        XCTAssertEqual(arguments("a\0\0b\0"), "'' b", "an empty argument first")
        XCTAssertEqual(arguments("ls\0-l\0/tm"), "-l /tm", "cut off (no NUL): kept as it is")
        XCTAssertEqual(arguments("echo\0a b\0c\0"), "'a b' c")
        let id = String(repeating: "ab", count: 32)
        XCTAssertEqual(ProcessEntry.containerID(fromCgroupName: "docker-\(id).scope"), id)
        XCTAssertEqual(ProcessEntry.containerID(fromCgroupName: id), id)
        XCTAssertNil(ProcessEntry.containerID(fromCgroupName: "session-3.scope"))
        XCTAssertEqual(ProcessEntry.containerID(fromCgroupPath: "/kubepods/besteffort/pod1234/\(id)"), id)
        XCTAssertEqual(ProcessEntry.containerID(fromCgroupPath: "/system.slice/docker-\(id).scope/init"), id, "an inner component holds it")
        XCTAssertNil(ProcessEntry.containerID(fromCgroupPath: "/user.slice/user-0.slice/session-3.scope"))
        XCTAssertEqual(ProcessEntry.containerID(fromCgroupPath: "/system.slice/cri-containerd-\(id).scope"), id)
        XCTAssertEqual(ProcessEntry.containerID(fromCgroupPath: "/docker/\(id)/"), id, "a trailing slash")
        XCTAssertEqual(ProcessEntry.containerID(fromCgroupPath: "/docker/\(id.uppercased())"), id.uppercased())
        XCTAssertNil(ProcessEntry.containerID(fromCgroupPath: "/docker/\(id.dropLast())g"), "not hex")
        XCTAssertNil(ProcessEntry.containerID(fromCgroupPath: "/docker/\(id)0"), "65 digits")
        XCTAssertNil(ProcessEntry.containerID(fromCgroupPath: "/"))
        XCTAssertNil(ProcessEntry.containerID(fromCgroupName: ".scope"))
    }
}
