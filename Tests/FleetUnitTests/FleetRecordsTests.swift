import Fleet
import Foundation
import XCTest

/// The fleet's pure parts: settings and their errors, the key layout, selectors and the
/// status report (the etcd behaviour itself is tested with a real etcd in KernelTests).
final class FleetRecordsTests: XCTestCase {
    func testEndpointsParseAndBadSettingsSayWhichFlag() throws {
        XCTAssertEqual(try EtcdSettings.parse(endpoint: "https://10.0.0.1:2379").host, "10.0.0.1")
        XCTAssertEqual(try EtcdSettings.parse(endpoint: "http://[::1]:2379/").host, "::1")
        XCTAssertThrowsError(try EtcdSettings.parse(endpoint: "etcd:2379")) { XCTAssertTrue("\($0)".contains("http://HOST:PORT")) }
        XCTAssertThrowsError(try EtcdSettings.parse(endpoint: "http://etcd:99999")) { XCTAssertTrue("\($0)".contains("port")) }
        var s = EtcdSettings()
        s.certFile = "/etc/hostname"
        XCTAssertThrowsError(try s.check()) { XCTAssertTrue("\($0)".contains("--kvstore-key")) }
        s = EtcdSettings()
        s.prefix = "vigil/"
        XCTAssertThrowsError(try s.check()) { XCTAssertTrue("\($0)".contains("--kvstore-prefix")) }
    }

    func testKeysAndNames() {
        let k = FleetKeys(prefix: "/vigil")
        XCTAssertEqual(k.policy("p"), "/vigil/v1/tracingpolicies/p")
        XCTAssertEqual(k.state(node: "n", policy: "p"), "/vigil/v1/status/n/p")
        XCTAssertFalse(k.identityLabels("k8s:a=/x").dropFirst(k.root.count).contains("/x"), "a label value's slash never splits the key")
        XCTAssertTrue(FleetKeys.isValidName("web-1.a_b"))
        for bad in ["", "a/b", "..", "é", String(repeating: "a", count: 254)] { XCTAssertFalse(FleetKeys.isValidName(bad), bad) }
    }

    func testSelectorsAndReport() throws {
        XCTAssertEqual(try FleetAdmin.selector("role=web,zone=a"), ["role": "web", "zone": "a"])
        XCTAssertThrowsError(try FleetAdmin.selector("role")) { XCTAssertTrue("\($0)".contains("label=value")) }
        XCTAssertThrowsError(try FleetAdmin.selector("a=1,a=2")) { XCTAssertTrue("\($0)".contains("twice")) }
        let p = FleetPolicy(name: "p", generation: 4, nodes: ["role": "web"], mode: "enforce", yaml: "")
        XCTAssertTrue(p.selects(["role": "web", "zone": "a"]))
        XCTAssertFalse(p.selects(["role": "db"]))
        let node = { (n: String, role: String) in
            FleetNode(name: n, labels: ["role": role], kernel: "6.1", tiers: [], agentVersion: "t", policySetHash: "0", started: Date(), pid: 1)
        }
        let report = FleetStatusReport(
            nodes: [node("a", "web"), node("b", "web"), node("c", "db")], policies: [p],
            states: [
                "a": ["p": FleetPolicyState(policy: "p", generation: 4, state: .loaded)],
                "b": ["p": FleetPolicyState(policy: "p", generation: 4, state: .error, error: "no BPF-LSM")],
                "c": ["p": FleetPolicyState(policy: "p", generation: 4, state: .skipped)],
            ])
        XCTAssertEqual(report.policies.first?.summary, "1/2 nodes at generation 4, 1 not selected; errors: b: no BPF-LSM")
        XCTAssertTrue(report.table.contains("p\t4\tenforce\tloaded\terror\tskipped"), report.table)
    }
}
