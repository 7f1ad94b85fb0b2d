import AgentCore
import XCTest

/// A program or script deleting its own file, by the names it was started with.
final class SelfDeletionDetectorTests: XCTestCase {
    var table: [ExecIdentity: ProcessEntry] = [:]
    var next: UInt32 = 100

    func spawn(_ binary: String, _ arguments: String, cwd: String, parent: ProcessEntry?) -> ProcessEntry {
        next += 1
        var e = ProcessEntry(id: ExecIdentity(ktime: UInt64(next), pid: next), parent: parent?.id, binary: binary)
        e.arguments = arguments
        e.cwd = cwd
        table[e.id] = e
        return e
    }

    func lookup(_ p: ProcessEntry) -> ProcessEntry? { p.parent.flatMap { table[$0] } }

    func testAScriptRemovingItselfByAnotherSpelling() {
        let login = spawn("/usr/bin/bash", "", cwd: "/root", parent: nil)
        let script = spawn("/usr/bin/dash", "./install.sh", cwd: "/tmp/x", parent: login)
        let rm = spawn("/usr/bin/rm", "-f -- /tmp/x/../x/install.sh", cwd: "/", parent: script)
        XCTAssertEqual(SelfDeletionDetector.deletedAncestor(rm, parent: lookup)?.id, script.id)
    }

    func testAProgramRemovingItsFileThroughAShell() {
        let payload = spawn("/dev/shm/.k", "", cwd: "/", parent: nil)
        let sh = spawn("/usr/bin/dash", "-c \"rm -f .k\"", cwd: "/dev/shm", parent: payload)
        let rm = spawn("/usr/bin/rm", "-f .k", cwd: "/dev/shm", parent: sh)
        XCTAssertEqual(SelfDeletionDetector.deletedAncestor(rm, parent: lookup)?.id, payload.id)
        let shred = spawn("/usr/bin/shred", "-u -z /dev/shm/.k", cwd: "/", parent: payload)
        XCTAssertEqual(SelfDeletionDetector.deletedAncestor(shred, parent: lookup)?.id, payload.id)
    }

    func testDeletingOtherFilesIsNotSelfDeletion() {
        let login = spawn("/usr/bin/bash", "", cwd: "/root", parent: nil)
        let script = spawn("/usr/bin/dash", "build.sh", cwd: "/src", parent: login)
        XCTAssertNil(SelfDeletionDetector.deletedAncestor(spawn("/usr/bin/rm", "-rf build/ /src/out.o", cwd: "/src", parent: script), parent: lookup))
        XCTAssertNil(SelfDeletionDetector.deletedAncestor(spawn("/usr/bin/ls", "build.sh", cwd: "/src", parent: script), parent: lookup), "not a deleter")
        XCTAssertNil(
            SelfDeletionDetector.deletedAncestor(spawn("/usr/bin/rm", "-f \"/src/my build.sh\"", cwd: "/", parent: script), parent: lookup),
            "a quoted name with a space is one name")
    }
}
