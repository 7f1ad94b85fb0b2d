import Datapath
import Foundation
import XCTest

// kernel-test-host-only: the agents talk to an etcd on 127.0.0.1; in a guest that would need qemu's user-mode network.

/// Network identity for the fleet: agents on this kernel as separate nodes, each with its own
/// endpoints (namespaces, veths, its own address range) and datapath, numbering label sets in
/// one real etcd. A policy on one node names peers on another by labels.
final class FleetNetworkTests: XCTestCase {
    static let dbFromWeb = """
        apiVersion: cilium.io/v2
        kind: CiliumNetworkPolicy
        metadata: {name: db-from-web}
        spec:
          endpointSelector: {matchLabels: {app: db}}
          ingress:
          - fromEndpoints: [{matchLabels: {app: web}}]
            toPorts: [{ports: [{port: "5432", protocol: TCP}]}]
        """

    func node(_ name: String, _ etcd: EtcdFixture, ttl: Int = 3) -> [String] {
        ["--node-name", name, "--kvstore", "etcd", "--kvstore-lease-ttl", "\(ttl)"] + etcd.kvstoreArguments
    }

    static func endpoints(_ f: EndpointFixture) -> [[String: Any]] {
        (try? f.waitForRevision { s in ((s["endpoints"] as? [[String: Any]]) ?? []).count == f.records.count }["endpoints"] as? [[String: Any]]) ?? []
    }

    static func identity(_ f: EndpointFixture, _ name: String) -> Int? {
        endpoints(f).first { $0["name"] as? String == f.records[name]!.name }?["identity"] as? Int
    }

    /// The endpoint's identity once the fleet numbered it (not reserved:init), waiting up to
    /// 10 s: the status file is written from the agent's start, before the fleet has synced.
    static func numberedIdentity(_ f: EndpointFixture, _ name: String) -> Int? {
        let deadline = Date().addingTimeInterval(10)
        while true {
            let id = identity(f, name)
            if let id, id != 5 { return id }
            if Date() > deadline { return id }
            usleep(100_000)
        }
    }

    /// Whether connections from endpoint `name` of `f` to `address`:5432 start being dropped
    /// within 10 s (a policy arriving); those accepted meanwhile are closed and drained from
    /// `listener`, so they never fill its backlog.
    static func becomesDropped(from f: EndpointFixture, _ name: String, to address: String, listener: Int32) throws -> Bool {
        let drain = { while let fd = Sockets.accept(listener, timeout: 0) { close(fd) } }
        defer { drain() }
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            guard let fd = try f.connect(from: name, to: address, port: 5432, timeout: 0.5) else { return true }
            close(fd)
            drain()
            usleep(100_000)
        }
        return false
    }

    func testLabelPolicyHoldsBetweenEndpointsOfTwoNodesWithRemoteIdentitiesInFlows() throws {
        try KernelTest.require(.tc)
        let etcd = try EtcdFixture()
        let a = try EndpointFixture([("web", ["app": "web"]), ("other", ["app": "other"])], pool: "10.215.0.0/24")
        defer { a.remove() }
        let b = try EndpointFixture([("db", ["app": "db"])], pool: "10.215.1.0/24")
        defer { b.remove() }
        try b.write(policy: "db.yaml", Self.dbFromWeb)
        _ = try a.startAgent(extraArguments: node("node-a", etcd))
        let agentB = try b.startAgent(extraArguments: node("node-b", etcd))
        let webID = try XCTUnwrap(Self.numberedIdentity(a, "web"), "web numbered by the fleet")
        let dbID = try XCTUnwrap(Self.numberedIdentity(b, "db"))
        XCTAssertGreaterThanOrEqual(webID, 256)
        XCTAssertLessThan(webID, 65536, "a cluster-scoped number")
        XCTAssertEqual(
            try etcd.ctl(["get", "--print-value-only", "/vigil/v1/identities/id/\(webID)"]).trimmingCharacters(in: .whitespacesAndNewlines),
            #"{"app":"web","io.kubernetes.pod.namespace":"default"}"#)

        let listener = try b.listen(in: "db", port: 5432)
        defer { close(listener) }
        // web (node a) -> db (node b): allowed once node b knows web's address and identity
        let took = try a.connectTime(from: "web", to: b.address("db"), port: 5432, within: 10)
        XCTAssertNotNil(took, "web on node a reaches db on node b through db's label policy")
        print("fleet: cross-node label policy effective \(String(format: "%.2f", took ?? -1)) s after both agents started")
        // other (node a) -> db: dropped by the same policy
        XCTAssertNil(try a.connect(from: "other", to: b.address("db"), port: 5432, timeout: 1), "app=other is not allowed to db")

        // node b's flow events name the remote identity and its labels
        let fromOther = { (flow: [String: Any]) in Self.isDroppedPostgres(flow) && ((flow["IP"] as? [String: Any])?["source"] as? String) == a.address("other")
        }
        let flows = try agentB.waitForAll { all in
            all.contains { ($0["flow"] as? [String: Any]).map(fromOther) ?? false }
        }.compactMap { $0["flow"] as? [String: Any] }
        // the connection's own drop: other packets (an IPv6 router solicitation) may be dropped first
        // (web's first tries may be dropped too, before node b learned web's address)
        let drop = try XCTUnwrap(flows.first(where: fromOther))
        let otherID = try XCTUnwrap(Self.numberedIdentity(a, "other"))
        XCTAssertEqual((drop["source"] as? [String: Any])?["identity"] as? Int, otherID)
        XCTAssertTrue(((drop["source"] as? [String: Any])?["labels"] as? [String] ?? []).contains("k8s:app=other"), "\(drop)")
        XCTAssertEqual((drop["destination"] as? [String: Any])?["identity"] as? Int, dbID)
        let allowed = try XCTUnwrap(
            flows.first { ($0["source"] as? [String: Any])?["identity"] as? Int == webID && $0["verdict"] as? String != "DROPPED" },
            "node b reports the allowed flow from web by its cluster identity")
        XCTAssertTrue(((allowed["source"] as? [String: Any])?["labels"] as? [String] ?? []).contains("k8s:app=web"))
        XCTAssertEqual(
            (allowed["source"] as? [String: Any])?["pod_name"] as? String ?? (allowed["source"] as? [String: Any])?["name"] as? String,
            a.records["web"]!.name, "the remote endpoint is named")
    }

    static func isDroppedPostgres(_ flow: [String: Any]) -> Bool {
        flow["verdict"] as? String == "DROPPED"
            && ((flow["l4"] as? [String: Any])?["TCP"] as? [String: Any])?["destination_port"] as? Int == 5432
    }

    func testNodesAllocatingOneLabelSetAtOnceGetOneIdentityAndUnusedOnesAreCollected() throws {
        try KernelTest.require(.tc)
        let etcd = try EtcdFixture()
        let fixtures = try (0..<3).map { i in try EndpointFixture([], pool: "10.215.\(10 + i).0/24") }
        defer { for f in fixtures { f.remove() } }
        let agents = try fixtures.enumerated().map { i, f in try f.startAgent(extraArguments: node("n\(i)", etcd)) }
        // all three nodes get an endpoint of the same labels at once: each allocates (within
        // one datapath poll of the others) and the store's create-if-absent picks one number
        for (i, f) in fixtures.enumerated() {
            f.records["api\(i)"] = try f.manager.create(.init(name: "t\(getpid() % 10000)-api\(i)", labels: ["app": "api", "tier": "shared"]))
        }
        let ids = fixtures.enumerated().map { Self.numberedIdentity($1, "api\($0)") }
        XCTAssertNotNil(ids[0])
        XCTAssertEqual(Set(ids.compactMap { $0 }).count, 1, "one identity for one label set: \(ids)")
        XCTAssertEqual(ids.compactMap { $0 }.count, 3)
        let labelKeys = try etcd.ctl(["get", "--prefix", "--keys-only", "/vigil/v1/identities/labels/"]).split(separator: "\n").filter { !$0.isEmpty }
        XCTAssertEqual(labelKeys.count, 1, "\(labelKeys)")
        let id = ids[0]!

        // every endpoint of that label set goes: the number is collected (two passes, one TTL apart)
        for f in fixtures {
            for r in f.records.values { try f.manager.delete(name: r.name) }
            f.records.removeAll()
        }
        let deadline = Date().addingTimeInterval(20)
        var remaining = ""
        while Date() < deadline {
            remaining = try etcd.ctl(["get", "--prefix", "--keys-only", "/vigil/v1/identities/"])
            if !remaining.contains("/id/\(id)") { break }
            usleep(300_000)
        }
        XCTAssertFalse(remaining.contains("/id/\(id)"), "the unreferenced identity is collected: \(remaining)")
        XCTAssertFalse(remaining.contains("/identities/labels/"), remaining)
        for a in agents { a.stop() }
    }

    func testNetworkPolicyAppliedThroughTheFleetIsEnforcedAndRemovedEverywhere() throws {
        try KernelTest.require(.tc)
        let etcd = try EtcdFixture()
        let a = try EndpointFixture([("web", ["app": "web"]), ("other", ["app": "other"])], pool: "10.215.2.0/24")
        defer { a.remove() }
        let b = try EndpointFixture([("db", ["app": "db"])], pool: "10.215.3.0/24")
        defer { b.remove() }
        _ = try a.startAgent(extraArguments: node("node-a", etcd) + ["--node-labels", "role=web"])
        _ = try b.startAgent(extraArguments: node("node-b", etcd) + ["--node-labels", "role=db"])
        XCTAssertNotNil(Self.numberedIdentity(b, "db"))
        let listener = try b.listen(in: "db", port: 5432)
        defer { close(listener) }
        let vigil = APICommandLineTests.vigil
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // no policy yet: other reaches db
        XCTAssertNotNil(try a.connectTime(from: "other", to: b.address("db"), port: 5432, within: 10), "no policy: allowed")
        while let fd = Sockets.accept(listener, timeout: 0.2) { close(fd) }

        // a bad file is refused before anything is written
        try
            "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: bad}\nspec:\n  endpointSelector: {matchLabels: {app: db}}\n  ingress: [{toPorts: [{ports: [{port: \"99999\"}]}]}]\n"
            .write(toFile: dir + "/bad.yaml", atomically: true, encoding: .utf8)
        var r = try KernelTest.run(vigil, ["fleet", "netpolicy", "apply", dir + "/bad.yaml"] + etcd.kvstoreArguments)
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains("bad.yaml:"), r.stderr)

        // the fleet writes the policy; node b (which has db) enforces it
        try Self.dbFromWeb.write(toFile: dir + "/db.yaml", atomically: true, encoding: .utf8)
        r = try KernelTest.run(vigil, ["fleet", "netpolicy", "apply", dir + "/db.yaml", "--nodes", "role=db"] + etcd.kvstoreArguments)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(try Self.becomesDropped(from: a, "other", to: b.address("db"), listener: listener), "the fleet's policy drops other -> db")
        XCTAssertNotNil(try a.connect(from: "web", to: b.address("db"), port: 5432, timeout: 2), "and allows web -> db")
        let status = try KernelTest.run(vigil, ["fleet", "status"] + etcd.kvstoreArguments).stdout
        XCTAssertTrue(status.contains("netpolicy/db-from-web"), status)
        XCTAssertTrue(status.contains("1/1 nodes at generation 1, 1 not selected"), status)
        let dp = try b.waitForRevision { s in ((s["policies"] as? [[String: Any]]) ?? []).contains { ($0["file"] as? String) == "fleet:db-from-web" } }
        XCTAssertTrue(
            ((dp["policies"] as? [[String: Any]]) ?? []).contains { ($0["file"] as? String) == "fleet:db-from-web" },
            "node b's datapath names the fleet as the source")

        // deleted: enforced nowhere
        r = try KernelTest.run(vigil, ["fleet", "netpolicy", "delete", "db-from-web"] + etcd.kvstoreArguments)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertNotNil(try a.connectTime(from: "other", to: b.address("db"), port: 5432, within: 10), "deleted: other reaches db again")
    }

    /// etcd down, node b's agent restarted: it numbers its endpoint, knows node a's endpoints
    /// and enforces the fleet's network policy from its local copy, so web -> db (across nodes,
    /// by labels) is still allowed and other -> db still dropped.
    func testAgentRestartedWhileEtcdIsDownEnforcesTheFleetsNetworkStateFromItsCopy() throws {
        try KernelTest.require(.tc)
        let etcd = try EtcdFixture()
        let a = try EndpointFixture([("web", ["app": "web"]), ("other", ["app": "other"])], pool: "10.215.4.0/24")
        defer { a.remove() }
        let b = try EndpointFixture([("db", ["app": "db"])], pool: "10.215.5.0/24")
        defer { b.remove() }
        let stateB = b.directory + "/fleet-state"
        let argsB = node("node-b", etcd) + ["--fleet-state-dir", stateB]
        _ = try a.startAgent(extraArguments: node("node-a", etcd))
        var agentB = try b.startAgent(extraArguments: argsB)
        let dbID = try XCTUnwrap(Self.numberedIdentity(b, "db"))
        let listener = try b.listen(in: "db", port: 5432)
        defer { close(listener) }
        let drain = { while let fd = Sockets.accept(listener, timeout: 0) { close(fd) } }
        let vigil = APICommandLineTests.vigil
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.dbFromWeb.write(toFile: dir + "/db.yaml", atomically: true, encoding: .utf8)
        let r = try KernelTest.run(vigil, ["fleet", "netpolicy", "apply", dir + "/db.yaml"] + etcd.kvstoreArguments)
        XCTAssertEqual(r.status, 0, r.stderr)
        // in force: other -> db dropped (once the policy arrived), web -> db allowed
        XCTAssertTrue(try Self.becomesDropped(from: a, "other", to: b.address("db"), listener: listener), "the fleet's policy drops other -> db")
        XCTAssertNotNil(try a.connectTime(from: "web", to: b.address("db"), port: 5432, within: 10), "web -> db across nodes")
        drain()
        // the copy holds node a's endpoints and the policy (written within a sync of them)
        let copyPath = stateB + "/network.copy"
        let copied = Date().addingTimeInterval(5)
        while Date() < copied {
            let text = (try? String(contentsOfFile: copyPath, encoding: .utf8)) ?? ""
            if text.contains(a.address("web")) && text.contains("db-from-web") { break }
            usleep(200_000)
        }

        etcd.stop()
        agentB.stop()
        agentB = try b.startAgent(extraArguments: argsB)
        XCTAssertEqual(Self.numberedIdentity(b, "db"), dbID, "db keeps its cluster identity, from the copy")
        XCTAssertNotNil(try a.connectTime(from: "web", to: b.address("db"), port: 5432, within: 10), "web -> db still allowed with etcd down")
        drain()
        XCTAssertNil(try a.connect(from: "other", to: b.address("db"), port: 5432, timeout: 1), "other -> db still dropped with etcd down")
        XCTAssertTrue(agentB.stderrTextSoFar().contains("network state from the local copy"), agentB.stderrTextSoFar())
        agentB.stop()
    }

    /// A first start with etcd down: no label set has a fleet number yet. The endpoints are
    /// attached as reserved:init, so db's policy filters its traffic at once (before, db stayed
    /// unattached and other -> db connected); no label selector names them as peers until they
    /// have their numbers, which they take when etcd comes back: then web -> db is allowed.
    func testEndpointsWaitingForTheirFleetNumberAreFilteredAsInit() throws {
        try KernelTest.require(.tc)
        let etcd = try EtcdFixture()
        etcd.stop()
        let b = try EndpointFixture([("db", ["app": "db"]), ("web", ["app": "web"]), ("other", ["app": "other"])], pool: "10.215.6.0/24")
        defer { b.remove() }
        try b.write(policy: "db.yaml", Self.dbFromWeb)
        let agent = try b.startAgent(extraArguments: node("node-b", etcd))
        let listener = try b.listen(in: "db", port: 5432)
        defer { close(listener) }
        let drain = { while let fd = Sockets.accept(listener, timeout: 0) { close(fd) } }
        XCTAssertEqual(Self.identity(b, "db"), 5, "db runs as reserved:init while it waits")
        XCTAssertNil(try b.connect(from: "other", to: b.address("db"), port: 5432, timeout: 1), "other -> db filtered while etcd is down")
        XCTAssertNil(try b.connect(from: "web", to: b.address("db"), port: 5432, timeout: 1), "web is not known as app=web yet: filtered too")

        try etcd.start()
        XCTAssertNotNil(try b.connectTime(from: "web", to: b.address("db"), port: 5432, within: 15), "numbered once etcd is back: web -> db allowed")
        drain()
        let dbID = try XCTUnwrap(Self.numberedIdentity(b, "db"))
        XCTAssertGreaterThanOrEqual(dbID, 256, "db has its cluster number")
        XCTAssertNil(try b.connect(from: "other", to: b.address("db"), port: 5432, timeout: 1), "other -> db still dropped")
        agent.stop()
    }
}
