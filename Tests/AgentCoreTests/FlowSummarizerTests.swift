import AgentCore
import XCTest

final class FlowSummarizerTests: XCTestCase {
    func flow(_ kind: FlowEvent.Kind, from: String, fromIdentity: UInt32, to port: UInt16, at t: UInt64, reason: UInt32 = 133) -> FlowEvent {
        FlowEvent(
            kind: kind, source: .init(address: from, port: 40000 + UInt16(t % 1000), identity: fromIdentity, labels: ["k8s:app=frontend"]),
            destination: .init(address: "10.213.0.9", port: port, identity: 302, labels: ["k8s:app=db"]), proto: "TCP", tcpFlags: 2,
            direction: "INGRESS", isReply: false, dropReason: kind == .new ? 0 : reason, policyRule: nil, process: nil, parent: nil, packets: 1, bytes: 60,
            timeNs: t)
    }

    func testOneRecordPerPatternWithCountsSourcesAndTimes() {
        var s = FlowSummarizer(intervalSeconds: 60)
        for t in 1...5 { s.observe(flow(.drop, from: "10.213.0.2", fromIdentity: 300, to: 5432, at: UInt64(t) * 10)) }
        s.observe(flow(.drop, from: "10.213.0.3", fromIdentity: 300, to: 5432, at: 5))
        s.observe(flow(.drop, from: "10.213.0.2", fromIdentity: 300, to: 22, at: 7))
        s.observe(flow(.audit, from: "10.213.0.2", fromIdentity: 300, to: 5432, at: 8))
        s.observe(flow(.new, from: "10.213.0.2", fromIdentity: 300, to: 8080, at: 9))  // forwarded: not a drop
        let out = s.flush()
        XCTAssertEqual(out.count, 3, "\(out)")
        let top = out[0]
        XCTAssertEqual(top.count, 6)
        XCTAssertEqual(top.sources, 2)
        XCTAssertEqual(top.firstNs, 5)
        XCTAssertEqual(top.lastNs, 50)
        XCTAssertEqual(top.port, 5432)
        XCTAssertEqual(top.verdict, "DROPPED")
        XCTAssertEqual(top.dropReasonName, "POLICY_DENIED")
        XCTAssertEqual(top.source.port, 0, "a pattern has no source port")
        XCTAssertTrue(out.contains { $0.verdict == "AUDIT" && $0.count == 1 })
        XCTAssertTrue(s.flush().isEmpty, "the next interval starts empty")
    }

    func testPatternsBeyondCapacityAreCountedNotKept() {
        var s = FlowSummarizer(intervalSeconds: 1)
        for p in 0..<(FlowSummarizer.capacity + 10) { s.observe(flow(.drop, from: "10.213.0.2", fromIdentity: 300, to: UInt16(p % 65535), at: 1)) }
        XCTAssertEqual(s.flush().count, FlowSummarizer.capacity)
        XCTAssertEqual(s.overflow, 10)
    }
}
