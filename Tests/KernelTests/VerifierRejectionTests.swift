import BPFKit
import BPFTestObjects
import XCTest

/// A program the verifier must reject (bpf/tests/broken_oob.bpf.c): the load fails with a
/// typed error that carries the verifier's own explanation.
final class VerifierRejectionTests: XCTestCase {
    func testOutOfBoundsStackReadFailsWithVerifierLog() throws {
        try KernelTest.require(.tracepoint)
        let object = try BPFObject(bytes: XCTUnwrap(BPFTestObjects.object(named: "broken_oob")), name: "broken_oob")
        XCTAssertThrowsError(try object.load()) { error in
            guard let error = error as? BPFError else { return XCTFail("not a BPFError: \(error)") }
            XCTAssertEqual(error.operation, "bpf_object__load")
            XCTAssertEqual(error.errnoName, "EACCES", "the verifier rejects with EACCES: \(error)")
            XCTAssertTrue(
                error.libbpfLog.contains("invalid") && error.libbpfLog.contains("stack"),
                "verifier message missing from: \(error.libbpfLog)")
            XCTAssertTrue(error.description.contains("broken_oob"), "the error names the object: \(error)")
            XCTAssertTrue(error.logTail().contains("stack"), "the tail shows the verifier's conclusion: \(error.logTail())")
        }
        XCTAssertFalse(object.isLoaded)
    }
}
