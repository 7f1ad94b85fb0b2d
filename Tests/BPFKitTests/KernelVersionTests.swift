import BPFKit
import XCTest

final class KernelVersionTests: XCTestCase {
    func testParsesDebianAndUpstreamReleases() throws {
        let v = try XCTUnwrap(KernelVersion(release: "6.12.117+deb12-amd64"))
        XCTAssertEqual([v.major, v.minor, v.patch], [6, 12, 117])
        XCTAssertEqual(v.release, "6.12.117+deb12-amd64")
        XCTAssertEqual(KernelVersion(release: "6.1.0-56-amd64").map { [$0.major, $0.minor, $0.patch] }, [6, 1, 0])
        XCTAssertNil(KernelVersion(release: "garbage"))
    }

    func testOrdersNumerically() {
        XCTAssertLessThan(KernelVersion(major: 6, minor: 1), KernelVersion(major: 6, minor: 12))
        XCTAssertLessThan(KernelVersion(major: 5, minor: 18, patch: 3), KernelVersion(major: 6, minor: 0))
        XCTAssertEqual(KernelVersion(major: 6, minor: 1, release: "6.1.0-x"), KernelVersion(major: 6, minor: 1))
    }
}
