import Export
import XCTest

@testable import AgentRuntime

/// The bus that feeds GetEvents streams: each subscriber's queue is its own; a full queue
/// drops that subscriber's batch and counts its lines, never anyone else's.
final class EventBusTests: XCTestCase {
    func testASlowSubscriberLosesOnlyItsOwnEventsCounted() async throws {
        let bus = EventBus()
        let slow = bus.subscribe(filters: ExportFilters(), fieldFilters: [], tetragonKindsOnly: false, capacityBytes: 100)
        let quick = bus.subscribe(filters: ExportFilters(), fieldFilters: [], tetragonKindsOnly: false, capacityBytes: 100)
        let batch = [UInt8](repeating: 0x41, count: 59) + [0x0a]  // 60 bytes
        for s in bus.snapshot() { s.deliver(batch, lines: 2) }
        let first = await quick.next()
        XCTAssertEqual(first?.lines.count, 60)
        XCTAssertEqual(first?.dropped, 0)
        for s in bus.snapshot() { s.deliver(batch, lines: 2) }  // slow: 120 > 100 bytes, dropped
        XCTAssertEqual(slow.dropped, 2)
        XCTAssertEqual(quick.dropped, 0, "the quick one lost nothing")
        let second = await quick.next()
        XCTAssertEqual(second?.lines.count, 60)
        let slowFirst = await slow.next()
        XCTAssertEqual(slowFirst?.dropped, 2, "the reader is told how many it lost")
        XCTAssertEqual(bus.droppedTotal, 2)
        bus.unsubscribe(slow)
        XCTAssertEqual(bus.count, 1)
        XCTAssertEqual(bus.droppedTotal, 2, "a departed subscriber's drops stay counted")
        bus.closeAll()
        let end = await quick.next()
        XCTAssertNil(end, "closed and empty: the stream ends")
    }
}
