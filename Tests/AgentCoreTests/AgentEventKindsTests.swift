import AgentCore
import EventJSON
import Foundation
import XCTest

/// The registry of exported event kinds: every kind is registered, its event types are the
/// ones it gives, its JSON line is keyed by its name, and the agent's filters and counters see
/// it through the protocol alone.
final class AgentEventKindsTests: XCTestCase {
    /// One event of every kind (a new kind without a sample here fails the coverage test).
    static func samples() -> [AgentEvent] {
        let s = EventJSONTests.sample()
        let sock = HookArgValue.SocketInfo(
            family: "AF_INET", type: "SOCK_STREAM", protocol: "IPPROTO_TCP", saddr: "127.0.0.1", daddr: "127.0.0.1", sport: 40000, dport: 80, state: "")
        let a = FlowEvent.Endpoint(address: "10.0.0.1", port: 40000, identity: 1000, labels: ["k8s:app=a"])
        let b = FlowEvent.Endpoint(address: "10.0.0.2", port: 80, identity: 2000, labels: ["k8s:app=b"])
        let drop = FlowEvent(
            kind: .drop, source: a, destination: b, proto: "TCP", tcpFlags: 2, direction: "egress", isReply: false, dropReason: 133, policyRule: nil,
            process: s.process, parent: s.parent, packets: 1, bytes: 60, timeNs: 5)
        var summarizer = FlowSummarizer(intervalSeconds: 10)
        summarizer.observe(drop)
        var events: [AgentEvent] = [
            .exec(process: s.process, parent: s.parent, ancestors: [], timeNs: 1),
            .exit(process: s.process, parent: s.parent, status: 0, signal: 9, timeNs: 2),
            .lostEvents(counts: ["process_exec": 1], total: 1, timeNs: 3),
            AgentEvent(drop),
            AgentEvent(NetworkEvent(kind: .connect, process: s.process, parent: s.parent, socket: sock, cookie: 7, timeNs: 6)),
            AgentEvent(
                DNSEvent(
                    process: s.process, parent: nil, direction: "egress", socket: sock, cookie: 7, id: 1, isResponse: false, rcode: "NOERROR",
                    questions: [.init(name: "example.test", type: "A")], answers: [], truncated: false, timeNs: 7)),
            AgentEvent(
                DetectionEvent(
                    name: "process_pipeline", detection: "download-piped-to-shell", process: s.process, parent: s.parent, source: nil, message: "m",
                    tags: [], timeNs: 8)),
        ]
        events += summarizer.flush().map { AgentEvent($0) }
        for family in [HookEvent.Family.kprobe, .tracepoint, .lsm, .uprobe] {
            events.append(
                AgentEvent(
                    HookEvent(
                        family: family, process: s.process, parent: s.parent, functionName: "f", args: [], action: "", policyName: "p", message: nil,
                        tags: [], timeNs: 9)))
        }
        return events
    }

    func testEveryRegisteredKindHasASample() {
        let sampled = Set(Self.samples().map { ObjectIdentifier(type(of: $0.kind)) })
        for kind in AgentEvent.kinds { XCTAssertTrue(sampled.contains(ObjectIdentifier(kind)), "\(kind) has no sample") }
        XCTAssertEqual(sampled.count, AgentEvent.kinds.count, "a sampled kind is not in AgentEvent.kinds")
    }

    func testEventTypesAreDeclaredByTheirKindAndUnique() {
        let names = AgentEvent.eventTypeNames
        XCTAssertEqual(names.count, Set(names).count, "an event type is declared twice: \(names)")
        for e in Self.samples() {
            XCTAssertTrue(type(of: e.kind).eventTypes.contains(e.eventType), "\(type(of: e.kind)) gives \(e.eventType), not in its eventTypes")
        }
    }

    func testEachLineIsKeyedByItsKindsNameWithItsTime() throws {
        let encoder = EventEncoder(nodeName: "n", hostNamespaces: Namespaces())
        for e in Self.samples() {
            let line = encoder.line(e)
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line)
            XCTAssertNotNil(object[e.kind.jsonName], "\(line) lacks \(e.kind.jsonName)")
            XCTAssertEqual(object["time"] as? String, EventEncoder.rfc3339(e.kind.eventTimeNs))
            XCTAssertEqual(object.count, 3, "\(line): one body, node_name and time")
        }
    }

    func testOnlyTetragonsKindsAreTetragonKindsAndOnlyLossReportsPassEveryFilter() {
        for e in Self.samples() {
            XCTAssertEqual(
                e.isTetragonKind,
                ["PROCESS_EXEC", "PROCESS_EXIT", "PROCESS_KPROBE", "PROCESS_TRACEPOINT", "PROCESS_LSM", "PROCESS_UPROBE"].contains(e.eventType), e.eventType)
            XCTAssertEqual(e.passesEveryFilter, e.eventType == "LOST_EVENTS", e.eventType)
        }
    }

    func testEqualityComparesKindAndContent() {
        let s = Self.samples()
        for (i, a) in s.enumerated() {
            for (j, b) in s.enumerated() { XCTAssertEqual(a == b, i == j, "\(a.eventType) vs \(b.eventType)") }
        }
    }
}
