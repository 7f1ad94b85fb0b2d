import BPFKit
import XCTest

final class BPFErrorTests: XCTestCase {
    func testNamesKernelAndLibbpfErrnos() {
        XCTAssertEqual(Errno.name(1), "EPERM")
        XCTAssertEqual(Errno.name(524), "ENOTSUPP")
        XCTAssertEqual(Errno.name(4007), "LIBBPF_ERRNO__VERIFY")
        XCTAssertEqual(Errno.name(9999), "errno 9999")
    }

    func testDescriptionSaysWhatFailedOnWhatAndWhy() {
        let e = BPFError(
            operation: "bpf_object__load", subject: "object x", errno: 13,
            libbpfLog: "libbpf: a\nlibbpf: b\ninvalid read from stack R1 off=64 size=1\n")
        XCTAssertTrue(e.description.hasPrefix("object x: bpf_object__load: Permission denied (EACCES)"), e.description)
        XCTAssertEqual(e.logTail(lines: 1), "invalid read from stack R1 off=64 size=1")
        XCTAssertEqual(e.reason, "Permission denied")
    }
}
