import Foundation
import XCTest

@testable import PolicyEngine

/// The files a hook matches by identity are held while matched, and let go of when no name
/// reaches them (a held inode's number cannot pass to another file).
final class HeldFilesTests: XCTestCase {
    func testAReplacedFileIsLetGoOfUnlessAHardlinkStillNamesIt() throws {
        let dir = NSTemporaryDirectory() + "/vigil-held-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let held = HeldFiles<UInt64>()
        for name in ["a", "b"] {
            try "old".write(toFile: "\(dir)/\(name)", atomically: false, encoding: .utf8)
            let f = try XCTUnwrap(HeldFiles<UInt64>.open("\(dir)/\(name)"))
            XCTAssertGreaterThanOrEqual(f.fd, 0, "a reference is taken (open_tree)")
            held.hold(f.inode, fd: f.fd)
        }
        let oldA = try XCTUnwrap(HeldFiles<UInt64>.open("\(dir)/a")).inode
        let oldB = try XCTUnwrap(HeldFiles<UInt64>.open("\(dir)/b")).inode
        XCTAssertEqual(held.nameless(), [], "both files are named")
        // both replaced the way passwd does it; b's old inode was hardlinked elsewhere before
        XCTAssertEqual(link("\(dir)/b", "\(dir)/b-kept"), 0)
        for name in ["a", "b"] {
            try "new".write(toFile: "\(dir)/\(name)+", atomically: false, encoding: .utf8)
            XCTAssertEqual(rename("\(dir)/\(name)+", "\(dir)/\(name)"), 0)
        }
        XCTAssertEqual(held.nameless(), [oldA], "a's old inode has no name; b's old one is b-kept")
        held.release(oldA)
        XCTAssertFalse(held.contains(oldA))
        XCTAssertTrue(held.contains(oldB))
        XCTAssertEqual(unlink("\(dir)/b-kept"), 0)
        XCTAssertEqual(held.nameless(), [oldB])
    }
}
