import BPFKit
import Foundation
import XCTest

// kernel-test-guests: 6.1: pinned maps on the oldest kernel; the guests share two emulated cores
/// Standalone maps, typed updates and lookups, and pinning in bpffs.
final class MapPinTests: XCTestCase {
    func testCreateUpdatePinReopenUnpin() throws {
        try KernelTest.requireRoot()
        try KernelFilesystems.ensureMounted(KernelFilesystems.bpf)
        let map = try BPFMap.create(kind: .hash, name: "vigil_pin_test", keySize: 4, valueSize: 8, maxEntries: 16)
        try map.update(UInt32(7), UInt64(0xfeed))
        XCTAssertEqual(try map.lookup(UInt32(7), as: UInt64.self), 0xfeed)
        XCTAssertNil(try map.lookup(UInt32(8), as: UInt64.self))
        XCTAssertEqual(try map.keys().count, 1)
        XCTAssertFalse(try map.insertIfAbsent(UInt32(7), UInt64(1)), "an entry is there: nothing written")
        XCTAssertEqual(try map.lookup(UInt32(7), as: UInt64.self), 0xfeed)
        XCTAssertTrue(try map.insertIfAbsent(UInt32(9), UInt64(2)))
        XCTAssertEqual(try map.lookup(UInt32(9), as: UInt64.self), 2)
        XCTAssertTrue(try map.delete(key: Array(withUnsafeBytes(of: UInt32(9)) { $0 })))
        let path = "/sys/fs/bpf/vigil-test-\(getpid())"
        try map.pin(at: path)
        let reopened = try BPFMap.openPinned(path, keySize: 4, valueSize: 8)
        XCTAssertEqual(try reopened.lookup(UInt32(7), as: UInt64.self), 0xfeed, "the pinned map is the same map")
        XCTAssertTrue(try reopened.delete(key: Array(withUnsafeBytes(of: UInt32(7)) { $0 })))
        XCTAssertNil(try map.lookup(UInt32(7), as: UInt64.self))
        try BPFMap.unpin(path)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        XCTAssertThrowsError(try BPFMap.openPinned(path, keySize: 4, valueSize: 8)) { e in
            XCTAssertEqual((e as? BPFError)?.errnoName, "ENOENT")
        }
    }
}
