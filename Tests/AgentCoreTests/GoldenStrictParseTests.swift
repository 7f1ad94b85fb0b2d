import Foundation
import TetragonAPI
import XCTest

/// The golden JSON of every Tetragon kind is what a client of Tetragon's API accepts: a
/// strict parse (unknown fields and unknown enum names are errors) as GetEventsResponse.
final class GoldenStrictParseTests: XCTestCase {
    func testEveryTetragonKindGoldenParsesStrictly() throws {
        let dir = EventJSONTests.golden
        let tetragonKinds = ["process_exec", "process_exit", "process_kprobe", "process_lsm", "process_tracepoint", "process_uprobe"]
        for kind in tetragonKinds {
            let text = try String(contentsOf: dir.appendingPathComponent(kind + ".json"), encoding: .utf8)
            for line in text.split(separator: "\n") where !line.isEmpty {
                XCTAssertNoThrow(try Tetragon_GetEventsResponse(jsonString: String(line)), "\(kind).json: \(line.prefix(300))")
            }
        }
        // and a spelling Tetragon does not have is refused: the parse is strict
        XCTAssertThrowsError(try Tetragon_GetEventsResponse(jsonString: #"{"process_exec":{"process":{"binary":"/x"}},"no_such_field":1}"#))
        XCTAssertThrowsError(
            try Tetragon_GetEventsResponse(jsonString: #"{"process_exec":{"process":{"cap":{"effective":["CAP_DAC_OVERRIDE"]}}}}"#),
            "Tetragon names capability 1 DAC_OVERRIDE")
    }
}
