import Datapath
import Foundation
import XCTest

// kernel-test-host-only: the datapath's policy logic, the same on every kernel; DatapathTests shows 6.1's legacy tc attach (the guests share two emulated cores)
/// Audit mode on a real kernel: what an audit-mode policy (or an endpoint in audit mode) would
/// drop is forwarded and reported once per flow with verdict AUDIT, the drop reason and the
/// rule; enforced policies beside it keep dropping.
final class DatapathAuditModeTests: XCTestCase {
    static let policies = """
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata:
          name: db-from-backend
          annotations: {vigil.io/policy-audit-mode: "true"}
        spec:
          endpointSelector: {matchLabels: {app: db}}
          ingress:
          - fromEndpoints: [{matchLabels: {app: backend}}]
            toPorts: [{ports: [{port: "5432", protocol: TCP}]}]
        ---
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {name: backend-from-frontend}
        spec:
          endpointSelector: {matchLabels: {app: backend}}
          ingress:
          - fromEndpoints: [{matchLabels: {app: frontend}}]
            toPorts: [{ports: [{port: "8080", protocol: TCP}, {port: "8081", protocol: TCP}]}]
        ---
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata:
          name: backend-not-8081-from-frontend
          annotations: {vigil.io/policy-audit-mode: "true"}
        spec:
          endpointSelector: {matchLabels: {app: backend}}
          ingressDeny:
          - fromEndpoints: [{matchLabels: {app: frontend}}]
            toPorts: [{ports: [{port: "8081", protocol: TCP}]}]
        """

    func port(_ flow: [String: Any]) -> Int? { ((flow["l4"] as? [String: Any])?["TCP"] as? [String: Any])?["destination_port"] as? Int }

    func flows(_ agent: AgentHarness, until done: ([[String: Any]]) -> Bool) throws -> [[String: Any]] {
        try agent.waitForAll { all in done(all.compactMap { $0["flow"] as? [String: Any] }) }.compactMap { $0["flow"] as? [String: Any] }
    }

    func testAuditModeForwardsAndReportsWhatPolicyWouldDropAndEnforcedPoliciesStillDrop() throws {
        let f = try DatapathTests.threeTiers()
        defer { f.remove() }
        let agent = try f.startAgent(policies: ["app.yaml": Self.policies])
        var listeners: [Int32] = []
        defer { for l in listeners { close(l) } }
        for (ep, p) in [("db", UInt16(5432)), ("backend", 8080), ("backend", 8081), ("backend", 9999)] { listeners.append(try f.listen(in: ep, port: p)) }

        // the audit-mode policy's default deny: frontend -> db:5432 connects, data passes both ways
        let c = try XCTUnwrap(try f.connect(from: "frontend", to: f.address("db"), port: 5432), "an audited drop is forwarded")
        defer { close(c) }
        let s = try XCTUnwrap(Sockets.accept(listeners[0], timeout: 2))
        defer { close(s) }
        for _ in 0..<5 {
            XCTAssertTrue(Sockets.exchange("ping", from: c, to: s, timeout: 2))
            XCTAssertTrue(Sockets.exchange("pong", from: s, to: c, timeout: 2))
        }
        // the audit-mode deny beside an enforced allow: forwarded, reported with the deny rule
        let c8081 = try XCTUnwrap(try f.connect(from: "frontend", to: f.address("backend"), port: 8081), "an audited deny is forwarded")
        close(c8081)
        // the enforced policy still drops what no rule allows: audit mode elsewhere widens nothing
        XCTAssertNil(try f.connect(from: "frontend", to: f.address("backend"), port: 9999, timeout: 0.5), "enforced default deny still drops")
        // allowed traffic stays plain FORWARDED
        close(try XCTUnwrap(try f.connect(from: "frontend", to: f.address("backend"), port: 8080)))

        let all = try flows(agent) { fl in
            fl.contains { $0["verdict"] as? String == "AUDIT" && self.port($0) == 5432 }
                && fl.contains { $0["verdict"] as? String == "AUDIT" && self.port($0) == 8081 }
                && fl.contains { $0["verdict"] as? String == "DROPPED" && self.port($0) == 9999 }
        }
        let audit5432 = all.filter { $0["verdict"] as? String == "AUDIT" && port($0) == 5432 }
        XCTAssertEqual(audit5432.count, 1, "one report per flow, not per packet: \(audit5432)")
        let a = try XCTUnwrap(audit5432.first)
        XCTAssertEqual(a["drop_reason_desc"] as? String, "POLICY_DENIED", "what would have dropped it")
        XCTAssertEqual(a["flow_type"] as? String, "AUDIT")
        XCTAssertEqual(a["traffic_direction"] as? String, "INGRESS")
        XCTAssertEqual((a["source"] as? [String: Any])?["identity"] as? Int, try DatapathTests.identity(f, "frontend"))
        let a8081 = try XCTUnwrap(all.first { $0["verdict"] as? String == "AUDIT" && port($0) == 8081 })
        XCTAssertEqual(a8081["drop_reason_desc"] as? String, "POLICY_DENY")
        XCTAssertEqual(a8081["ingress_denied_by"] as? [String], ["default/backend-not-8081-from-frontend spec.ingressDeny[0]"])
        XCTAssertFalse(all.contains { $0["verdict"] as? String == "AUDIT" && port($0) == 8080 }, "allowed traffic is not audited")
        XCTAssertFalse(all.contains { $0["verdict"] as? String == "DROPPED" && [5432, 8081].contains(port($0) ?? 0) }, "audited traffic is never dropped")

        // `vigil netpolicy list` says which policies only audit; `vigil flows --verdict AUDIT` shows them
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vigil").path
        let list = try KernelTest.run(exe, ["netpolicy", "list", "--status-file", f.directory + "/datapath.json"]).stdout
        XCTAssertTrue(list.contains("policy default/db-from-backend (CiliumNetworkPolicy, 1 rule, mode audit"), list)
        XCTAssertTrue(list.contains("policy default/backend-from-frontend (CiliumNetworkPolicy, 1 rule, mode enforce"), list)
        XCTAssertTrue(list.contains("endpoint \(f.records["db"]!.name) \(f.address("db")) identity") && list.contains("drops audit:ingress"), list)
        let audits = try KernelTest.run(exe, ["flows", "--file", agent.exportPath, "--verdict", "AUDIT"]).stdout
        XCTAssertTrue(audits.contains("AUDIT AUDIT POLICY_DENIED \(f.address("frontend")):"), audits)
        XCTAssertFalse(audits.contains("FORWARDED") || audits.contains("DROPPED"), audits)
    }

    func testEndpointAuditModeTurnsDropsIntoReportsAndBackWithoutDetaching() throws {
        let f = try DatapathTests.threeTiers()
        defer { f.remove() }
        let agent = try f.startAgent(policies: ["app.yaml": DatapathTests.appPolicies])
        let l = try f.listen(in: "db", port: 5432)
        defer { close(l) }
        XCTAssertNil(try f.connect(from: "frontend", to: f.address("db"), port: 5432, timeout: 0.5), "enforced: dropped")

        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vigil").path
        let db = f.records["db"]!.name
        let on = try KernelTest.run(exe, ["endpoint", "config", db, "--policy-audit-mode", "on", "--state-dir", f.manager.stateDirectory])
        XCTAssertEqual(on.status, 0, on.stderr)
        let took = try XCTUnwrap(
            try f.connectTime(from: "frontend", to: f.address("db"), port: 5432, within: 5), "the endpoint in audit mode forwards within seconds")
        XCTAssertLessThan(took, 3)
        let audits = try flows(agent) { $0.contains { $0["verdict"] as? String == "AUDIT" && self.port($0) == 5432 } }
        // other packets the endpoint would drop (an IPv6 router solicitation) are audited too; judge the connection's
        XCTAssertEqual(
            audits.first { $0["verdict"] as? String == "AUDIT" && self.port($0) == 5432 }?["drop_reason_desc"] as? String, "POLICY_DENIED")
        let status = try f.waitForRevision { s in
            ((s["endpoints"] as? [[String: Any]]) ?? []).contains { $0["name"] as? String == db && $0["policyAuditMode"] as? Bool == true }
        }
        XCTAssertTrue(((status["endpoints"] as? [[String: Any]]) ?? []).contains { $0["name"] as? String == db && $0["policyAuditMode"] as? Bool == true })
        // a neighbour not in audit mode still drops
        let bl = try f.listen(in: "backend", port: 9999)
        defer { close(bl) }
        XCTAssertNil(try f.connect(from: "frontend", to: f.address("backend"), port: 9999, timeout: 0.5), "other endpoints keep enforcing")

        let off = try KernelTest.run(exe, ["endpoint", "config", db, "--policy-audit-mode", "off", "--state-dir", f.manager.stateDirectory])
        XCTAssertEqual(off.status, 0, off.stderr)
        let deadline = Date().addingTimeInterval(5)
        var dropped = false
        while Date() < deadline && !dropped {
            if let fd = try f.connect(from: "frontend", to: f.address("db"), port: 5432, timeout: 0.3) { close(fd) } else { dropped = true }
        }
        XCTAssertTrue(dropped, "back to enforcing within seconds")
        let bad = try KernelTest.run(exe, ["endpoint", "config", db, "--policy-audit-mode", "maybe", "--state-dir", f.manager.stateDirectory])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--policy-audit-mode: on or off"), bad.stderr)
    }

    /// Drops are summarised per pattern for alerting: one flow_summary per (source identity,
    /// destination identity, protocol, port) and interval, however many flows it stands for.
    func testDropsAreSummarisedOncePerPatternAndInterval() throws {
        let f = try EndpointFixture([("frontend", ["app": "frontend"]), ("frontend2", ["app": "frontend"]), ("db", ["app": "db"])])
        defer { f.remove() }
        let agent = try f.startAgent(policies: ["app.yaml": DatapathTests.appPolicies], extraArguments: ["--flow-summary-interval", "5"])
        let l = try f.listen(in: "db", port: 5432)
        defer { close(l) }
        for from in ["frontend", "frontend", "frontend2", "frontend"] {
            XCTAssertNil(try f.connect(from: from, to: f.address("db"), port: 5432, timeout: 0.3), "\(from) -> db:5432 is dropped")
        }
        func drops(_ all: [[String: Any]]) -> Int {
            all.compactMap { $0["flow"] as? [String: Any] }.filter {
                $0["verdict"] as? String == "DROPPED" && (($0["l4"] as? [String: Any])?["TCP"] as? [String: Any])?["destination_port"] as? Int == 5432
            }.count
        }
        func summaries(_ all: [[String: Any]]) -> [[String: Any]] {
            all.compactMap { $0["flow_summary"] as? [String: Any] }.filter { $0["destination_port"] as? Int == 5432 }
        }
        // the summaries (one per interval the drops fell in) account for every drop report
        let events = try agent.waitForAll { all in
            let n = drops(all)
            return n >= 4 && summaries(all).reduce(0) { $0 + ($1["count"] as? Int ?? 0) } == n
        }
        let found = summaries(events)
        XCTAssertEqual(found.reduce(0) { $0 + ($1["count"] as? Int ?? 0) }, drops(events), "\(found)")
        XCTAssertLessThanOrEqual(found.count, 2, "one record per pattern and interval (the attempts take under two seconds): \(found)")
        if found.count == 1 { XCTAssertEqual(found[0]["sources"] as? Int, 2, "two frontends") }
        let s = try XCTUnwrap(found.max { ($0["count"] as? Int ?? 0) < ($1["count"] as? Int ?? 0) })
        XCTAssertEqual(s["verdict"] as? String, "DROPPED")
        XCTAssertEqual(s["drop_reason_desc"] as? String, "POLICY_DENIED")
        XCTAssertEqual(s["protocol"] as? String, "TCP")
        XCTAssertEqual((s["source"] as? [String: Any])?["identity"] as? Int, try DatapathTests.identity(f, "frontend"))
        XCTAssertEqual((s["destination"] as? [String: Any])?["identity"] as? Int, try DatapathTests.identity(f, "db"))
        XCTAssertNotNil(s["first_time"])
        XCTAssertNotNil(s["last_time"])
        XCTAssertEqual(s["interval_seconds"] as? Int, 5)
    }
}
