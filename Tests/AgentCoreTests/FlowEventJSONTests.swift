import AgentCore
import EventJSON
import Foundation
import XCTest

/// The `flow` event's shape: Hubble's field names, plus the process.
final class FlowEventJSONTests: XCTestCase {
    func testDropEventShape() throws {
        let src = FlowEvent.Endpoint(
            address: "10.213.0.2", port: 41000, identity: 258, labels: ["k8s:app=frontend"], name: "frontend", namespace: "default", endpointID: 1)
        let dst = FlowEvent.Endpoint(address: "10.213.0.4", port: 5432, identity: 257, labels: ["k8s:app=db"], name: "db", namespace: "default", endpointID: 3)
        let proc = ProcessEntry(id: ExecIdentity(ktime: 42, pid: 77), parent: nil, binary: "/usr/bin/psql")
        let e = FlowEvent(
            kind: .drop, source: src, destination: dst, proto: "TCP", tcpFlags: 0x02, direction: "INGRESS", isReply: false,
            dropReason: 181, policyRule: "default/db-deny spec.ingressDeny[0]", process: proc, parent: nil,
            packets: 1, bytes: 60, timeNs: 1_700_000_000_000_000_000)
        let line = EventEncoder(nodeName: "n1", hostNamespaces: Namespaces()).line(AgentEvent(e))
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let flow = try XCTUnwrap(obj["flow"] as? [String: Any])
        XCTAssertEqual(flow["verdict"] as? String, "DROPPED")
        XCTAssertEqual(flow["drop_reason_desc"] as? String, "POLICY_DENY")
        XCTAssertEqual(flow["drop_reason"] as? Int, 181)
        XCTAssertEqual(flow["traffic_direction"] as? String, "INGRESS")
        XCTAssertEqual(flow["ingress_denied_by"] as? [String], ["default/db-deny spec.ingressDeny[0]"])
        XCTAssertEqual((flow["IP"] as? [String: Any])?["destination"] as? String, "10.213.0.4")
        let tcp = try XCTUnwrap((flow["l4"] as? [String: Any])?["TCP"] as? [String: Any])
        XCTAssertEqual(tcp["destination_port"] as? Int, 5432)
        XCTAssertEqual(tcp["flags"] as? [String: Bool], ["SYN": true])
        XCTAssertEqual((flow["source"] as? [String: Any])?["identity"] as? Int, 258)
        XCTAssertEqual((flow["destination"] as? [String: Any])?["pod_name"] as? String, "db")
        XCTAssertEqual((flow["process"] as? [String: Any])?["binary"] as? String, "/usr/bin/psql")
        XCTAssertEqual(flow["Summary"] as? String, "TCP Flags: SYN")
        XCTAssertEqual(obj["node_name"] as? String, "n1")
    }

    func testReplyCloseNamesTheRuleOfTheFlowsOwnDirection() throws {
        let a = FlowEvent.Endpoint(address: "10.213.0.3", port: 8080, identity: 256, labels: [])
        let b = FlowEvent.Endpoint(address: "10.213.0.2", port: 40000, identity: 258, labels: [])
        let e = FlowEvent(
            kind: .close, source: a, destination: b, proto: "TCP", tcpFlags: 0x11, direction: "EGRESS", isReply: true,
            dropReason: 0, policyRule: "default/backend spec.ingress[0]", process: nil, parent: nil, packets: 7, bytes: 481, timeNs: 1)
        let flow = try XCTUnwrap(
            (try JSONSerialization.jsonObject(with: Data(EventEncoder(nodeName: "n", hostNamespaces: Namespaces()).line(AgentEvent(e)).utf8)) as? [String: Any])?[
                "flow"] as? [String: Any])
        XCTAssertEqual(flow["ingress_allowed_by"] as? [String], ["default/backend spec.ingress[0]"], "a reply leaving the server belongs to its ingress flow")
        XCTAssertEqual(flow["packets"] as? Int, 7)
        XCTAssertNil(flow["drop_reason"])
    }
}
