import BPFKit
import BPFTestObjects
import CVigilABI
import Foundation
import XCTest

/// BPF-LSM enforcement: lsm/file_open returns -EPERM for one marker file
/// (bpf/tests/lsm_deny_inode.bpf.c). `cat` of the marker fails with EPERM; other files open.
// kernel-test-requires: lsm  (read by scripts/test: the class runs only on kernels with all of them)
final class LSMDenyTests: XCTestCase {
    func testFileOpenOfMarkerIsDeniedOthersAllowed() throws {
        try KernelTest.requireActiveBPFLSM()
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let marker = dir + "/protected-marker"
        let neighbour = dir + "/neighbour"
        XCTAssertTrue(FileManager.default.createFile(atPath: marker, contents: Data("secret\n".utf8)))
        XCTAssertTrue(FileManager.default.createFile(atPath: neighbour, contents: Data("fine\n".utf8)))
        var st = stat()
        XCTAssertEqual(stat(marker, &st), 0)

        let object = try BPFObject(bytes: XCTUnwrap(BPFTestObjects.object(named: "lsm_deny_inode")), name: "lsm_deny_inode")
        try object.setRodata("denied_inode", to: UInt64(st.st_ino))
        try object.setRodata("denied_dev", to: kernelDev(st.st_dev))
        try object.load()
        var denials: [vigil_test_record] = []
        let ring = try RingBuffer(maps: [object.map("events")]) { bytes in
            denials.append(bytes.loadUnaligned(as: vigil_test_record.self))
            return true
        }
        let link = try object.program("deny_marker_open").attachLSM()

        let denied = try KernelTest.run("/bin/cat", [marker])
        let allowed = try KernelTest.run("/bin/cat", [neighbour])
        link.close()
        let afterDetach = try KernelTest.run("/bin/cat", [marker])

        XCTAssertNotEqual(denied.status, 0, "cat of the marker must fail")
        XCTAssertTrue(denied.stderr.contains("Operation not permitted"), "cat's error: \(denied.stderr)")
        XCTAssertEqual(allowed.status, 0, "other files still open: \(allowed.stderr)")
        XCTAssertEqual(afterDetach.status, 0, "detaching the link lifts the deny: \(afterDetach.stderr)")
        try KernelTest.poll(ring) { denials.contains { $0.pid == UInt32(denied.pid) } }
        let record = try XCTUnwrap(denials.first { $0.pid == UInt32(denied.pid) })
        XCTAssertEqual(record.ret, -EPERM)
        XCTAssertEqual(cString(record.name), "cat")
    }

    /// struct stat's dev_t is the glibc encoding; the kernel's s_dev is MKDEV(major, minor) = major << 20 | minor.
    private func kernelDev(_ dev: UInt) -> UInt64 {
        let major = UInt64((dev >> 8) & 0xfff) | UInt64((dev >> 32) & ~0xfff)
        let minor = UInt64(dev & 0xff) | UInt64((dev >> 12) & ~0xff)
        return major << 20 | minor
    }
}
