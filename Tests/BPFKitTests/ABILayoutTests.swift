import CVigilABI
import XCTest

/// Swift's view of the wire structs matches the C layout the BPF side compiles against
/// (the C side pins sizes with _Static_assert in vigil_abi.h).
final class ABILayoutTests: XCTestCase {
    func testRecordSizes() {
        XCTAssertEqual(MemoryLayout<vigil_record_header>.size, 16)
        XCTAssertEqual(MemoryLayout<vigil_exec_record>.size, 304)
        XCTAssertEqual(MemoryLayout<vigil_test_record>.size, 96)
        XCTAssertEqual(MemoryLayout<vigil_exec_record>.offset(of: \.filename), 48)
    }
}
