import CVigilABI
import Sensors
import XCTest

final class RecordKindTests: XCTestCase {
    func testEveryKindRoundTripsAndFitsTheLossCounters() {
        XCTAssertEqual(Set(RecordKind.allCases.map(\.raw)).count, RecordKind.allCases.count, "distinct C constants")
        XCTAssertEqual(Set(RecordKind.allCases.map(\.lossName)).count, RecordKind.allCases.count, "distinct loss names")
        for k in RecordKind.allCases {
            XCTAssertLessThan(k.raw, VIGIL_RECORD_KIND_MAX, "\(k) fits the per-kind loss counter array")
            XCTAssertEqual(RecordKind(raw: k.raw), k)
        }
        XCTAssertNil(RecordKind(raw: 0))
        XCTAssertNil(RecordKind(raw: VIGIL_RECORD_TEST))
    }

    func testKindOfARecordReadsItsHeader() {
        var header = vigil_record_header()
        header.kind = VIGIL_RECORD_DNS
        withUnsafeBytes(of: header) { XCTAssertEqual(RecordKind(of: $0), .dns) }
        withUnsafeBytes(of: header) { XCTAssertNil(RecordKind(of: UnsafeRawBufferPointer(rebasing: $0[0..<2])), "too short for a header") }
    }
}
