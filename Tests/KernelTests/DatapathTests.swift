import Datapath
import Foundation
import KernelFeatures
import XCTest

// kernel-test-guests: 6.1: the datapath's legacy tc attach (6.12 has tcx, as the host does); the guests share two emulated cores, so a class whose hooks the host and one guest show runs once
/// The identity-aware datapath on a real kernel: endpoints are namespaces joined by veths,
/// the tc programs decide by identity, flow events name the process.
final class DatapathTests: XCTestCase {
    static let appPolicies = """
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {name: backend-from-frontend}
        spec:
          endpointSelector: {matchLabels: {app: backend}}
          ingress:
          - fromEndpoints: [{matchLabels: {app: frontend}}]
            toPorts: [{ports: [{port: "8080", protocol: TCP}]}]
        ---
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {name: db-from-backend}
        spec:
          endpointSelector: {matchLabels: {app: db}}
          ingress:
          - fromEndpoints: [{matchLabels: {app: backend}}]
            toPorts: [{ports: [{port: "5432", protocol: TCP}]}]
        """

    static func threeTiers() throws -> EndpointFixture {
        try EndpointFixture([("frontend", ["app": "frontend"]), ("backend", ["app": "backend"]), ("db", ["app": "db"])])
    }

    /// Identity of an endpoint, from the agent's status.
    static func identity(_ f: EndpointFixture, _ name: String) throws -> Int {
        let status = try f.waitForRevision { s in ((s["endpoints"] as? [[String: Any]]) ?? []).count == f.records.count }
        let eps = try XCTUnwrap(status["endpoints"] as? [[String: Any]])
        return try XCTUnwrap(eps.first { $0["name"] as? String == f.records[name]!.name }?["identity"] as? Int)
    }

    func flows(_ agent: AgentHarness, until done: ([[String: Any]]) -> Bool) throws -> [[String: Any]] {
        try agent.waitForAll { all in done(all.compactMap { $0["flow"] as? [String: Any] }) }.compactMap { $0["flow"] as? [String: Any] }
    }

    func testAllowedTiersConnectAndFrontendToDatabaseIsDroppedWithIdentitiesPortAndProcess() throws {
        let f = try Self.threeTiers()
        defer { f.remove() }
        let agent = try f.startAgent(policies: ["app.yaml": Self.appPolicies])
        let backendListener = try f.listen(in: "backend", port: 8080)
        defer { close(backendListener) }
        let dbListener = try f.listen(in: "db", port: 5432)
        defer { close(dbListener) }

        // frontend -> backend:8080 allowed, and the reply (data back) passes
        let c1 = try XCTUnwrap(try f.connect(from: "frontend", to: f.address("backend"), port: 8080), "frontend reaches backend:8080")
        defer { close(c1) }
        let s1 = try XCTUnwrap(Sockets.accept(backendListener, timeout: 2))
        defer { close(s1) }
        XCTAssertTrue(Sockets.exchange("ping", from: c1, to: s1, timeout: 2))
        XCTAssertTrue(Sockets.exchange("pong", from: s1, to: c1, timeout: 2), "replies pass")
        // backend -> db:5432 allowed
        let c2 = try XCTUnwrap(try f.connect(from: "backend", to: f.address("db"), port: 5432), "backend reaches db:5432")
        close(c2)
        // frontend -> db:5432 dropped, by a process we can name: curl-like busybox nc in the endpoint
        let ncArgs = EndpointManager.execArguments(f.records["frontend"]!, ["/bin/busybox", "nc", "-w", "1", f.address("db"), "5432"])
        let nc = try KernelTest.run(ncArgs[0], Array(ncArgs.dropFirst()))
        XCTAssertNotEqual(nc.status, 0, "frontend cannot reach db")
        XCTAssertNil(try f.connect(from: "frontend", to: f.address("backend"), port: 9999, timeout: 0.5), "a port the policy does not name is dropped")

        let frontendID = try Self.identity(f, "frontend")
        let dbID = try Self.identity(f, "db")
        let all = try flows(agent) { fl in
            fl.contains { $0["verdict"] as? String == "DROPPED" && ($0["process"] as? [String: Any])?["binary"] as? String == "/usr/bin/busybox" }
        }
        let drop = try XCTUnwrap(
            all.first {
                $0["verdict"] as? String == "DROPPED" && ($0["process"] as? [String: Any]) != nil
                    && (($0["l4"] as? [String: Any])?["TCP"] as? [String: Any])?["destination_port"] as? Int == 5432
            },
            "a drop event for frontend -> db:5432 with its process")
        XCTAssertEqual(drop["drop_reason_desc"] as? String, "POLICY_DENIED")
        XCTAssertEqual((drop["source"] as? [String: Any])?["identity"] as? Int, frontendID)
        XCTAssertEqual((drop["destination"] as? [String: Any])?["identity"] as? Int, dbID)
        XCTAssertTrue(((drop["destination"] as? [String: Any])?["labels"] as? [String] ?? []).contains("k8s:app=db"))
        XCTAssertEqual(drop["traffic_direction"] as? String, "INGRESS", "dropped by db's ingress policy")
        let proc = try XCTUnwrap(drop["process"] as? [String: Any])
        XCTAssertEqual(proc["binary"] as? String, "/usr/bin/busybox")
        XCTAssertEqual(proc["pid"] as? Int, Int(nc.pid), "the process that tried, by pid (the shell execs ip, which execs nc)")
        XCTAssertNotNil(proc["exec_id"], "joinable to process_exec")
        // the allowed flow's NEW event names the rule
        let allowed = try XCTUnwrap(
            all.first {
                $0["flow_type"] as? String == "NEW" && $0["traffic_direction"] as? String == "INGRESS"
                    && (($0["l4"] as? [String: Any])?["TCP"] as? [String: Any])?["destination_port"] as? Int == 8080
            })
        XCTAssertEqual(allowed["ingress_allowed_by"] as? [String], ["default/backend-from-frontend spec.ingress[0]"])

        // a burst of denied datagrams on one flow is one drop report (at most one a second per flow)
        try f.inside("frontend") {
            let u = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            defer { close(u) }
            var sa = Sockets.sockaddr(f.address("db"), 5433)
            for _ in 0..<50 {
                _ = withUnsafePointer(to: &sa) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(u, "x", 1, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            }
        }
        let udpDrops = { (fl: [[String: Any]]) in
            fl.filter { $0["verdict"] as? String == "DROPPED" && (($0["l4"] as? [String: Any])?["UDP"] as? [String: Any])?["destination_port"] as? Int == 5433 }
        }
        _ = try flows(agent) { !udpDrops($0).isEmpty }
        usleep(300_000)
        XCTAssertEqual(udpDrops(try flows(agent) { _ in true }).count, 1, "50 dropped datagrams of one flow within a second: one report")

        // `vigil flows` shows the drop, filtered by verdict and label
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vigil").path
        let out = try KernelTest.run(exe, ["flows", "--file", agent.exportPath, "--verdict", "DROPPED", "--label", "app=db"]).stdout
        XCTAssertTrue(out.contains("DROP DROPPED POLICY_DENIED \(f.address("frontend")):"), out)
        XCTAssertTrue(out.contains("-> \(f.address("db")):5432 \(f.records["db"]!.name)(\(dbID)) TCP /usr/bin/busybox pid \(nc.pid)"), out)
        XCTAssertFalse(out.contains("FORWARDED"), "verdict filter")
    }

    func testAdoptedNamespaceBecomesAnEnforcedEndpoint() throws {
        let f = try EndpointFixture([("client", ["app": "client"])])
        defer { f.remove() }
        let ns = "vigil-adopt-\(getpid() % 10000)"
        _ = try? KernelTest.run("/usr/sbin/ip", ["netns", "del", ns])
        try NetnsPeer.ip(["netns", "add", ns])
        defer { _ = try? KernelTest.run("/usr/sbin/ip", ["netns", "del", ns]) }
        let adopted = try f.manager.create(.init(name: "t\(getpid() % 10000)-adopted", labels: ["app": "legacy"], adoptNetns: ns))
        f.records["adopted"] = adopted
        XCTAssertTrue(adopted.adopted)
        let l = try EndpointFixture.inside(netns: ns) { try Sockets.listen(address: "0.0.0.0", port: 6000) }
        defer { close(l) }
        let l2 = try EndpointFixture.inside(netns: ns) { try Sockets.listen(address: "0.0.0.0", port: 6001) }
        defer { close(l2) }
        _ = try f.startAgent(policies: [
            "legacy.yaml": """
            apiVersion: cilium.io/v2
            kind: CiliumNetworkPolicy
            metadata: {name: legacy}
            spec:
              endpointSelector: {matchLabels: {app: legacy}}
              ingress:
              - fromEndpoints: [{matchLabels: {app: client}}]
                toPorts: [{ports: [{port: "6000"}]}]
            """
        ])
        let ok = try XCTUnwrap(try f.connect(from: "client", to: adopted.address, port: 6000), "allowed into the adopted namespace")
        close(ok)
        XCTAssertNil(try f.connect(from: "client", to: adopted.address, port: 6001, timeout: 0.5), "its policy is enforced")
        try f.manager.delete(name: adopted.name)
        f.records["adopted"] = nil
        XCTAssertTrue(FileManager.default.fileExists(atPath: "/run/netns/\(ns)"), "deleting the endpoint leaves an adopted namespace")
    }

    func testPolicyChangeAppliesWithinOneSecondAndEstablishedFlowSurvivesUnrelatedChange() throws {
        let f = try Self.threeTiers()
        defer { f.remove() }
        _ = try f.startAgent(policies: ["app.yaml": Self.appPolicies])
        let backendListener = try f.listen(in: "backend", port: 8080)
        defer { close(backendListener) }
        let dbListener = try f.listen(in: "db", port: 5432)
        defer { close(dbListener) }
        let c = try XCTUnwrap(try f.connect(from: "frontend", to: f.address("backend"), port: 8080))
        defer { close(c) }
        let s = try XCTUnwrap(Sockets.accept(backendListener, timeout: 2))
        defer { close(s) }
        XCTAssertTrue(Sockets.exchange("before", from: c, to: s, timeout: 2))
        XCTAssertNil(try f.connect(from: "frontend", to: f.address("db"), port: 5432, timeout: 0.3))

        // allow frontend -> db: new connections get through within a second of the change
        let status = try f.waitForRevision { _ in true }
        let before = status["revision"] as? Int ?? 0
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vigil").path
        let file = f.directory + "/frontend-db.yaml"
        try """
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {name: db-from-frontend}
        spec:
          endpointSelector: {matchLabels: {app: db}}
          ingress:
          - fromEndpoints: [{matchLabels: {app: frontend}}]
            toPorts: [{ports: [{port: "5432"}]}]
        """.write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(try KernelTest.run(exe, ["netpolicy", "apply", file, "--dir", f.policyDirectory]).status, 0)
        let took = try f.connectTime(from: "frontend", to: f.address("db"), port: 5432, within: 3)
        XCTAssertNotNil(took, "the new rule takes effect")
        XCTAssertLessThan(took ?? 99, 1.0, "within one second of the file change")
        XCTAssertGreaterThan(try f.waitForRevision { ($0["revision"] as? Int ?? 0) > before }["revision"] as? Int ?? 0, before)
        // the established frontend -> backend flow was not touched by that change
        XCTAssertTrue(Sockets.exchange("after", from: c, to: s, timeout: 2), "established allowed flow survives an unrelated change")
        XCTAssertTrue(Sockets.exchange("reply", from: s, to: c, timeout: 2))
        // `vigil netpolicy delete` takes it away again
        XCTAssertEqual(try KernelTest.run(exe, ["netpolicy", "delete", "default/db-from-frontend", "--dir", f.policyDirectory]).status, 0)
        try f.waitForRevision { s in !((s["policies"] as? [[String: Any]]) ?? []).contains { $0["name"] as? String == "default/db-from-frontend" } }
        XCTAssertNil(try f.connect(from: "frontend", to: f.address("db"), port: 5432, timeout: 0.5), "deleted: dropped again")

        // revoking what allowed it cuts it at its next packet
        try f.write(
            policy: "app.yaml",
            """
            apiVersion: cilium.io/v2
            kind: CiliumNetworkPolicy
            metadata: {name: db-from-backend}
            spec:
              endpointSelector: {matchLabels: {app: db}}
              ingress:
              - fromEndpoints: [{matchLabels: {app: backend}}]
                toPorts: [{ports: [{port: "5432", protocol: TCP}]}]
            ---
            apiVersion: cilium.io/v2
            kind: CiliumNetworkPolicy
            metadata: {name: backend-closed}
            spec:
              endpointSelector: {matchLabels: {app: backend}}
              ingress: [{}]
            """)
        try f.waitForRevision { s in ((s["policies"] as? [[String: Any]]) ?? []).contains { $0["name"] as? String == "default/backend-closed" } }
        XCTAssertFalse(Sockets.exchange("revoked", from: c, to: s, timeout: 1), "a flow the new policy no longer allows is dropped")
    }

    func testEnforcementAndEstablishedFlowsCarryOnWhileTheAgentRestarts() throws {
        let f = try Self.threeTiers()
        defer { f.remove() }
        let first = try f.startAgent(policies: ["app.yaml": Self.appPolicies])
        let l = try f.listen(in: "backend", port: 8080)
        defer { close(l) }
        let db = try f.listen(in: "db", port: 5432)
        defer { close(db) }
        let c = try XCTUnwrap(try f.connect(from: "frontend", to: f.address("backend"), port: 8080))
        defer { close(c) }
        let s = try XCTUnwrap(Sockets.accept(l, timeout: 2))
        defer { close(s) }
        XCTAssertEqual(first.stop(), 0)
        f.agent = nil
        // no agent: the pinned programs and maps still decide
        XCTAssertNil(try f.connect(from: "frontend", to: f.address("db"), port: 5432, timeout: 0.5), "still denied with no agent running")
        let during = try XCTUnwrap(try f.connect(from: "frontend", to: f.address("backend"), port: 8080), "still allowed with no agent running")
        close(during)
        XCTAssertTrue(Sockets.exchange("no agent", from: c, to: s, timeout: 2), "established flow carries on")
        // the next agent takes over: same maps (conntrack included), same enforcement, its own flow events
        let second = try f.startAgent()
        XCTAssertTrue(Sockets.exchange("second agent", from: c, to: s, timeout: 2), "established flow survives the takeover")
        XCTAssertNil(try f.connect(from: "frontend", to: f.address("db"), port: 5432, timeout: 0.5))
        let again = try XCTUnwrap(try f.connect(from: "frontend", to: f.address("backend"), port: 8080))
        close(again)
        let flows = try second.waitForAll { $0.contains { ($0["flow"] as? [String: Any])?["flow_type"] as? String == "NEW" } }
        XCTAssertTrue(flows.contains { ($0["flow"] as? [String: Any])?["flow_type"] as? String == "NEW" }, "the new agent reports flows")
        // `vigil netpolicy reset` (no agent) takes it all away
        XCTAssertEqual(second.stop(), 0)
        XCTAssertTrue(second.stderrText().contains("taking over from the previous agent"), "the second agent reused the pinned maps")
        f.agent = nil
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vigil").path
        XCTAssertEqual(try KernelTest.run(exe, ["netpolicy", "reset", "--pin-dir", f.pinDirectory]).status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.pinDirectory))
        let open = try XCTUnwrap(try f.connect(from: "frontend", to: f.address("db"), port: 5432), "after reset nothing is enforced")
        close(open)
    }

    func testCIDRExceptAndEntitiesWorldAndHost() throws {
        let f = try EndpointFixture([("client", ["app": "client"]), ("worldly", ["app": "worldly"])])
        defer { f.remove() }
        // two "outside" hosts: 10.200.41.2 (inside the allowed CIDR) and 10.200.42.2 (in its except)
        let allowedPeer = try NetnsPeer(subnet: 41)
        let exceptPeer = try NetnsPeer(subnet: 42)
        defer {
            allowedPeer.remove()
            exceptPeer.remove()
        }
        var peerListeners: [Int32] = []
        defer { for l in peerListeners { close(l) } }
        for p in [allowedPeer, exceptPeer] {
            try NetnsPeer.ip(["-n", p.name, "route", "add", "default", "via", p.hostAddress])
            peerListeners.append(try EndpointFixture.inside(netns: p.name) { try Sockets.listen(address: "0.0.0.0", port: 9000) })
        }
        let hostListener = try Sockets.listen(address: "0.0.0.0", port: 9001)
        defer { close(hostListener) }
        let hostOther = try Sockets.listen(address: "0.0.0.0", port: 9002)
        defer { close(hostOther) }
        _ = try f.startAgent(policies: [
            "egress.yaml": """
            apiVersion: cilium.io/v2
            kind: CiliumNetworkPolicy
            metadata: {name: client-egress}
            spec:
              endpointSelector: {matchLabels: {app: client}}
              egress:
              - toCIDRSet:
                - cidr: 10.200.0.0/16
                  except: [10.200.42.0/24]
                toPorts: [{ports: [{port: "9000", protocol: TCP}]}]
              - toEntities: [host]
                toPorts: [{ports: [{port: "9001", protocol: TCP}]}]
            ---
            apiVersion: cilium.io/v2
            kind: CiliumNetworkPolicy
            metadata: {name: worldly-egress}
            spec:
              endpointSelector: {matchLabels: {app: worldly}}
              egress:
              - toEntities: [world]
            """
        ])
        func reaches(_ from: String, _ addr: String, _ port: UInt16) throws -> Bool {
            guard let fd = try f.connect(from: from, to: addr, port: port, timeout: 1) else { return false }
            close(fd)
            return true
        }
        XCTAssertTrue(try reaches("client", allowedPeer.peerAddress, 9000), "toCIDRSet allows 10.200.41.2")
        XCTAssertFalse(try reaches("client", exceptPeer.peerAddress, 9000), "except carves 10.200.42.0/24 out")
        XCTAssertTrue(try reaches("client", "169.254.1.1", 9001), "toEntities host")
        XCTAssertFalse(try reaches("client", "169.254.1.1", 9002), "host only on the port named")
        XCTAssertTrue(try reaches("worldly", exceptPeer.peerAddress, 9000), "world covers addresses outside the cluster")
        XCTAssertFalse(try reaches("worldly", "169.254.1.1", 9001), "the host is not world")
        XCTAssertFalse(try reaches("worldly", f.address("client"), 9000), "another endpoint is not world")
    }

    func testDenyRuleBeatsAllowRule() throws {
        let f = try EndpointFixture([("frontend", ["app": "frontend"]), ("backend", ["app": "backend"]), ("admin", ["app": "admin"])])
        defer { f.remove() }
        let agent = try f.startAgent(policies: [
            "deny.yaml": """
            apiVersion: cilium.io/v2
            kind: CiliumNetworkPolicy
            metadata: {name: backend-open-but-not-to-frontend}
            spec:
              endpointSelector: {matchLabels: {app: backend}}
              ingress:
              - fromEntities: [all]
              ingressDeny:
              - fromEndpoints: [{matchLabels: {app: frontend}}]
                toPorts: [{ports: [{port: "8080", protocol: TCP}]}]
            """
        ])
        let l = try f.listen(in: "backend", port: 8080)
        defer { close(l) }
        let l2 = try f.listen(in: "backend", port: 8081)
        defer { close(l2) }
        XCTAssertNil(try f.connect(from: "frontend", to: f.address("backend"), port: 8080, timeout: 1), "the deny wins over allow-all")
        let other = try XCTUnwrap(try f.connect(from: "frontend", to: f.address("backend"), port: 8081), "other ports stay allowed")
        close(other)
        let admin = try XCTUnwrap(try f.connect(from: "admin", to: f.address("backend"), port: 8080), "other peers stay allowed")
        close(admin)
        let drops = try flows(agent) { $0.contains { $0["drop_reason_desc"] as? String == "POLICY_DENY" } }
        let d = try XCTUnwrap(drops.first { $0["drop_reason_desc"] as? String == "POLICY_DENY" })
        XCTAssertEqual(d["ingress_denied_by"] as? [String], ["default/backend-open-but-not-to-frontend spec.ingressDeny[0]"])
    }

    func testKubernetesNetworkPolicyIsEnforced() throws {
        let f = try EndpointFixture([("web", ["role": "web"]), ("api", ["role": "api"]), ("other", ["role": "other"])])
        defer { f.remove() }
        _ = try f.startAgent(policies: [
            "k8s.yaml": """
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: api-from-web, namespace: default}
            spec:
              podSelector: {matchLabels: {role: api}}
              policyTypes: [Ingress]
              ingress:
              - from: [{podSelector: {matchLabels: {role: web}}}]
                ports: [{protocol: TCP, port: 7000, endPort: 7010}]
            """
        ])
        let l = try f.listen(in: "api", port: 7005)
        defer { close(l) }
        let l2 = try f.listen(in: "api", port: 7011)
        defer { close(l2) }
        let ok = try XCTUnwrap(try f.connect(from: "web", to: f.address("api"), port: 7005), "inside the port range")
        close(ok)
        XCTAssertNil(try f.connect(from: "web", to: f.address("api"), port: 7011, timeout: 0.5), "past endPort")
        XCTAssertNil(try f.connect(from: "other", to: f.address("api"), port: 7005, timeout: 0.5), "a pod the policy does not name")
    }

    func testMalformedPolicyIsRejectedWithPositionAndTheRunningPolicyStays() throws {
        let f = try Self.threeTiers()
        defer { f.remove() }
        _ = try f.startAgent(policies: ["app.yaml": Self.appPolicies])
        let l = try f.listen(in: "backend", port: 8080)
        defer { close(l) }
        // `vigil netpolicy apply` refuses it, naming file, line and column
        let bad = f.directory + "/bad.yaml"
        try """
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {name: broken}
        spec:
          endpointSelector: {matchLabels: {app: backend}}
          ingress:
          - fromEndpoints: [{matchLabels: {app: frontend}}]
            toPorts: [{ports: [{port: "http-alt"}]}]
        """.write(toFile: bad, atomically: true, encoding: .utf8)
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vigil").path
        let r = try KernelTest.run(exe, ["netpolicy", "apply", bad, "--dir", f.policyDirectory])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("\(bad):8:31: error:"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: f.policyDirectory + "/bad.yaml"), "nothing was written")
        // a broken edit of a file the agent already applied: reported, the file's previous policies stay
        try f.write(policy: "app.yaml", Self.appPolicies.replacingOccurrences(of: "port: \"8080\"", with: "port: \"80800\""))
        let status = try f.waitForRevision { (($0["errors"] as? [String]) ?? []).contains { $0.contains("app.yaml:") } }
        XCTAssertTrue(((status["errors"] as? [String]) ?? []).contains { $0.contains("app.yaml:8:31: error:") }, "\(status["errors"] ?? "")")
        let c = try XCTUnwrap(try f.connect(from: "frontend", to: f.address("backend"), port: 8080), "the policy in force is unchanged")
        close(c)
        XCTAssertNil(try f.connect(from: "frontend", to: f.address("db"), port: 5432, timeout: 0.5))
    }
}
