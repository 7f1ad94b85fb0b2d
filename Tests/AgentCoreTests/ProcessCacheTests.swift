import AgentCore
import XCTest

final class ProcessCacheTests: XCTestCase {
    private func entry(_ pid: UInt32, _ ktime: UInt64, parent: ExecIdentity? = nil) -> ProcessEntry {
        ProcessEntry(id: ExecIdentity(ktime: ktime, pid: pid), parent: parent, binary: "/bin/p\(pid)")
    }

    func testExecIDIsTetragonsEncoding() {
        XCTAssertEqual(ExecIdentity(ktime: 1234, pid: 42).execID(node: "node1"), "bm9kZTE6MTIzNDo0Mg==") // base64("node1:1234:42")
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

    func testResolveParentFallsBackToThePIDsCurrentImage() {
        var cache = ProcessCache()
        let seeded = entry(7, 99)
        cache.insert(seeded)
        XCTAssertEqual(cache.resolveParent(ExecIdentity(ktime: 0, pid: 7)), seeded.id)
        XCTAssertNil(cache.resolveParent(ExecIdentity(ktime: 0, pid: 8)))
    }

    func testAncestorsNearestFirst() {
        var cache = ProcessCache()
        let a = entry(1, 1), b = entry(2, 2, parent: a.id), c = entry(3, 3, parent: b.id), d = entry(4, 4, parent: c.id)
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
        cache.markExited(root.id) // still referenced by kid
        cache.insert(entry(4, 4))
        XCTAssertEqual(cache.count, 3)
        XCTAssertEqual(cache.evictions, 1)
        XCTAssertNil(cache.entry(root.id), "the exited entry goes first")
    }

    func testArgumentsJoinAndContainerIDs() {
        XCTAssertEqual(ProcessEntry.joinArguments(["sh", "-c", "sleep 1; true", ""]), "-c 'sleep 1; true' ''")
        let id = String(repeating: "ab", count: 32)
        XCTAssertEqual(ProcessEntry.containerID(fromCgroupName: "docker-\(id).scope"), id)
        XCTAssertEqual(ProcessEntry.containerID(fromCgroupName: id), id)
        XCTAssertNil(ProcessEntry.containerID(fromCgroupName: "session-3.scope"))
        XCTAssertEqual(ProcessEntry.containerID(fromCgroupPath: "/kubepods/besteffort/pod1234/\(id)"), id)
        XCTAssertEqual(ProcessEntry.containerID(fromCgroupPath: "/system.slice/docker-\(id).scope/init"), id, "an inner component holds it")
        XCTAssertNil(ProcessEntry.containerID(fromCgroupPath: "/user.slice/user-0.slice/session-3.scope"))
    }
}
