import Foundation
import KernelFeatures
import XCTest

// kernel-test-host-only: the agents talk to an etcd on 127.0.0.1; in a guest that would need qemu's user-mode network.

/// Fleet mode with a real etcd (started here on loopback) and several real agents on this
/// kernel, each a node with its own name, labels, state, pins and status. They share one
/// kernel, so a policy one node loads sees every process of the machine: which node runs a
/// policy shows in that node's own export, status and fleet state, which is what is checked.
final class FleetTests: XCTestCase {
    var vigil: String { URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vigil").path }

    /// `vigil fleet ...` against `etcd`.
    @discardableResult
    func fleet(_ etcd: EtcdFixture, _ arguments: [String], expect: Int32 = 0, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let r = try KernelTest.run(vigil, ["fleet"] + arguments + etcd.kvstoreArguments)
        XCTAssertEqual(r.status, expect, "vigil fleet \(arguments.joined(separator: " ")): \(r.stderr)", file: file, line: line)
        return r.stdout + r.stderr
    }

    /// The fleet status as JSON, polled until `done` holds.
    func waitForStatus(
        _ etcd: EtcdFixture, timeout: TimeInterval = 20, file: StaticString = #filePath, line: UInt = #line, until done: ([String: Any]) -> Bool
    ) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        var last: [String: Any] = [:]
        repeat {
            let r = try KernelTest.run(vigil, ["fleet", "status", "--json"] + etcd.kvstoreArguments)
            if r.status == 0, let obj = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] {
                last = obj
                if done(obj) { return obj }
            }
            usleep(200_000)
        } while Date() < deadline
        XCTFail("fleet status never reached the expected state: \(last)", file: file, line: line)
        return last
    }

    /// A node's state of a policy in a status report: (state, generation, actions).
    func state(_ report: [String: Any], policy: String, node: String) -> (state: String, generation: Int, actions: Int)? {
        guard let rows = report["policies"] as? [[String: Any]], let row = rows.first(where: { $0["policy"] as? String == policy }),
            let nodes = row["nodes"] as? [String: Any], let s = nodes[node] as? [String: Any]
        else { return nil }
        return (s["state"] as? String ?? "", s["generation"] as? Int ?? -1, s["actions"] as? Int ?? 0)
    }

    func nodeNames(_ report: [String: Any]) -> [String] { ((report["nodes"] as? [[String: Any]]) ?? []).compactMap { $0["name"] as? String }.sorted() }

    func startNode(
        _ name: String, labels: String, etcd: EtcdFixture, ttl: Int = 3, extra: [String] = [], file: StaticString = #filePath, line: UInt = #line
    ) throws -> AgentHarness {
        try AgentHarness(
            extraArguments: [
                "--node-name", name, "--node-labels", labels, "--kvstore", "etcd", "--kvstore-lease-ttl", "\(ttl)",
            ] + etcd.kvstoreArguments + extra, file: file, line: line)
    }

    /// A policy that kills whatever opens `canary` (matched on the file the kernel reached).
    func canaryPolicy(name: String, canary: String, directory: String) throws -> String {
        let path = directory + "/\(name).yaml"
        try """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: \(name)
        spec:
          tracepoints:
          - subsystem: syscalls
            event: sys_enter_openat
            args:
            - index: 6
              type: string
            selectors:
            - matchArgs:
              - index: 0
                operator: Equal
                values:
                - \(canary)
              matchActions:
              - action: Sigkill
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Opens the canary with cat: 0 when it ran, 9 when the kernel killed it.
    func openCanary(_ canary: String) throws -> Int32 { try KernelTest.run("/bin/cat", [canary]).status }

    func canaryEvents(_ agent: AgentHarness, _ canary: String) throws -> Int {
        // the filename as the caller passed it, or the file the kernel reached: either names the canary
        try agent.barrier().filter { e in e.kind == "process_tracepoint" && "\(e.args)".contains(canary) }.count
    }

    func testPolicyForLabelledNodesRunsOnlyThereAndRollsOutFromMonitorToEnforce() throws {
        try KernelTest.require(.tracepoint)
        let etcd = try EtcdFixture()
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let canary = dir + "/canary"
        FileManager.default.createFile(atPath: canary, contents: Data("x\n".utf8))
        let name = "fleet-canary-\(getpid())"
        let policy = try canaryPolicy(name: name, canary: canary, directory: dir)
        let web1 = try startNode("web-1", labels: "role=web,zone=a", etcd: etcd)
        let web2 = try startNode("web-2", labels: "role=web,zone=b", etcd: etcd)
        let db1 = try startNode("db-1", labels: "role=db,zone=a", etcd: etcd)
        _ = try waitForStatus(etcd) { nodeNames($0) == ["db-1", "web-1", "web-2"] }
        // a key that is not a fleet policy: reported, ignored, nothing else disturbed
        try etcd.ctl(["put", "/vigil/v1/tracingpolicies/broken", "{not json"])

        // staged rollout, step 1: monitor mode on the web nodes
        let start = Date()
        let out = try fleet(etcd, ["policy", "apply", policy, "--nodes", "role=web", "--mode", "monitor"])
        XCTAssertTrue(out.contains("generation 1"), out)
        var report = try waitForStatus(etcd) { r in
            state(r, policy: name, node: "web-1")?.state == "loaded" && state(r, policy: name, node: "web-2")?.state == "loaded"
                && state(r, policy: name, node: "db-1")?.state == "skipped"
        }
        let seconds = Date().timeIntervalSince(start)
        print("fleet: apply to loaded on 2 of 3 local nodes in \(String(format: "%.2f", seconds)) s")
        XCTAssertLessThan(seconds, 10)
        XCTAssertEqual(state(report, policy: name, node: "web-1")?.generation, 1)
        XCTAssertEqual(try web1.status().map { $0["name"] as? String }, [name])
        XCTAssertEqual(try db1.status().count, 0, "the db node must not load a role=web policy")

        XCTAssertEqual(try openCanary(canary), 0, "monitor mode must not kill")
        XCTAssertEqual(try canaryEvents(web1, canary), 1)
        XCTAssertEqual(try canaryEvents(web2, canary), 1)
        XCTAssertEqual(try canaryEvents(db1, canary), 0, "the db node does not run the policy")
        // the would-have-acted counters, per node, in the fleet status
        report = try waitForStatus(etcd) { r in
            (state(r, policy: name, node: "web-1")?.actions ?? 0) >= 1 && (state(r, policy: name, node: "web-2")?.actions ?? 0) >= 1
        }
        XCTAssertEqual(state(report, policy: name, node: "db-1")?.actions, 0)

        // step 2: one write switches the fleet to enforce
        try fleet(etcd, ["policy", "mode", name, "enforce"])
        report = try waitForStatus(etcd) { r in
            state(r, policy: name, node: "web-1").map { $0.state == "loaded" && $0.generation == 2 } == true
                && state(r, policy: name, node: "web-2").map { $0.state == "loaded" && $0.generation == 2 } == true
        }
        XCTAssertEqual(try openCanary(canary), SIGKILL, "enforce mode kills")
        let table = try fleet(etcd, ["status"])
        XCTAssertTrue(table.contains("2/2 nodes at generation 2, 1 not selected"), table)
        XCTAssertTrue(web1.process.isRunning && web2.process.isRunning && db1.process.isRunning, "the broken key must not stop an agent")

        // a generation these nodes cannot honour (an Override on a kprobe: this kernel has
        // neither kprobes nor fentry) is an error on each, named in the status, and the
        // generation before it keeps enforcing: never a weaker version in silence
        XCTAssertFalse(
            FeatureProbe.shared.status(.kprobe).isSupported || FeatureProbe.shared.status(.fentry).isSupported,
            "this step needs a kernel without kprobes and fentry (the host's)")
        let unhonourable = dir + "/\(name)-override.yaml"
        try
            (String(contentsOfFile: policy, encoding: .utf8) + """

                  kprobes:
                  - call: sys_linkat
                    syscall: true
                    args:
                    - index: 1
                      type: string
                    selectors:
                    - matchArgs:
                      - index: 1
                        operator: Equal
                        values:
                        - \(canary)
                      matchActions:
                      - action: Override
                        argError: -1
                """).write(toFile: unhonourable, atomically: true, encoding: .utf8)
        try fleet(etcd, ["policy", "apply", unhonourable, "--nodes", "role=web", "--mode", "enforce"])
        report = try waitForStatus(etcd) { r in
            state(r, policy: name, node: "web-1").map { $0.state == "error" && $0.generation == 3 } == true
                && state(r, policy: name, node: "web-2").map { $0.state == "error" && $0.generation == 3 } == true
        }
        let failed = try fleet(etcd, ["status"])
        XCTAssertTrue(failed.contains("web-1: ") && failed.contains("no hook tier"), "the status names the node and why: \(failed)")
        XCTAssertEqual(try openCanary(canary), SIGKILL, "generation 2 still enforces on the nodes that refused 3")
        XCTAssertTrue(web1.stderrTextSoFar().contains("broken"), "the broken key is reported")

        // delete: unloaded everywhere, states gone
        try fleet(etcd, ["policy", "delete", name])
        _ = try waitForStatus(etcd) { r in ((r["policies"] as? [[String: Any]]) ?? []).allSatisfy { $0["policy"] as? String != name } }
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, (try web1.status().count + web2.status().count) > 0 { usleep(100_000) }
        XCTAssertEqual(try web1.status().count + web2.status().count, 0)
        XCTAssertEqual(try openCanary(canary), 0, "deleted everywhere: nothing kills")
        let states = try etcd.ctl(["get", "--prefix", "--keys-only", "/vigil/v1/status/"])
        XCTAssertFalse(states.contains(name), states)
        for a in [web1, web2, db1] { a.stop() }
    }

    func testKilledNodeLeavesAfterItsLeaseAndStoppedNodeAtOnce() throws {
        try KernelTest.require(.tracepoint)
        let etcd = try EtcdFixture()
        let dying = try startNode("dying", labels: "role=web", etcd: etcd, ttl: 3)
        let leaving = try startNode("leaving", labels: "role=web", etcd: etcd, ttl: 30)
        _ = try waitForStatus(etcd) { nodeNames($0) == ["dying", "leaving"] }
        // a clean stop revokes the lease: gone at once, not after 30 s
        leaving.stop()
        var report = try waitForStatus(etcd, timeout: 5) { nodeNames($0) == ["dying"] }
        XCTAssertEqual(nodeNames(report), ["dying"])
        let killedAt = Date()
        kill(dying.process.processIdentifier, SIGKILL)
        dying.process.waitUntilExit()
        report = try waitForStatus(etcd, timeout: 12) { nodeNames($0).isEmpty }
        let gone = Date().timeIntervalSince(killedAt)
        XCTAssertEqual(nodeNames(report), [])
        XCTAssertLessThan(gone, 3 + 6, "the node's keys go with its 3 s lease")
        print("fleet: SIGKILLed node left the status after \(String(format: "%.1f", gone)) s (lease TTL 3 s)")
    }

    func testEnforcementOutlivesAnEtcdOutageAndAStartWithoutEtcd() throws {
        try KernelTest.require(.tracepoint)
        try KernelTest.require(.sendSignal)
        let etcd = try EtcdFixture()
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let canary = dir + "/canary"
        FileManager.default.createFile(atPath: canary, contents: Data("x\n".utf8))
        let name = "fleet-outage-\(getpid())"
        let policy = try canaryPolicy(name: name, canary: canary, directory: dir)
        let stateDir = dir + "/fleet-state"
        let metricsPort = try PrometheusMetricsTests.freePort()
        var node: AgentHarness? = try startNode(
            "n1", labels: "role=web", etcd: etcd, ttl: 5, extra: ["--fleet-state-dir", stateDir, "--metrics-address", "127.0.0.1:\(metricsPort)"])
        let metric = { (name: String) -> Double? in
            let r = try? KernelTest.run(
                "/usr/bin/python3", ["-c", "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:\(metricsPort)/metrics').read().decode())"])
            return r?.stdout.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        }
        try fleet(etcd, ["policy", "apply", policy, "--mode", "enforce"])
        _ = try waitForStatus(etcd) { state($0, policy: name, node: "n1")?.state == "loaded" }

        // etcd gone for 20 s: the kernel keeps enforcing, every attempt is exported
        etcd.stop()
        var attempts = 0
        let until = Date().addingTimeInterval(20)
        while Date() < until {
            XCTAssertEqual(try openCanary(canary), SIGKILL, "enforcement must continue while etcd is down")
            attempts += 1
            usleep(2_000_000)
        }
        XCTAssertEqual(try canaryEvents(node!, canary), attempts, "nothing lost during the outage")
        XCTAssertTrue(node!.stderrTextSoFar().contains("etcd connection lost"), node!.stderrTextSoFar())
        XCTAssertEqual(metric("vigil_kvstore_connected"), 0)
        XCTAssertEqual(metric("vigil_kvstore_outages_total"), 1, "the outage is counted")
        try etcd.start()
        // the status catches up: the node is back, and a change made now reaches it
        _ = try waitForStatus(etcd) { state($0, policy: name, node: "n1")?.state == "loaded" && nodeNames($0) == ["n1"] }
        let back = Date().addingTimeInterval(10)  // the agent retries at most 5 s apart
        while Date() < back, metric("vigil_kvstore_connected") != 1 { usleep(200_000) }
        XCTAssertEqual(metric("vigil_kvstore_connected"), 1, "reconnected")
        try fleet(etcd, ["policy", "mode", name, "monitor"])
        _ = try waitForStatus(etcd) { state($0, policy: name, node: "n1").map { $0.generation == 2 && $0.state == "loaded" } == true }
        XCTAssertEqual(try openCanary(canary), 0)
        try fleet(etcd, ["policy", "mode", name, "enforce"])
        _ = try waitForStatus(etcd) { state($0, policy: name, node: "n1").map { $0.generation == 3 && $0.state == "loaded" } == true }

        // an agent started while etcd is down enforces its local copy
        etcd.stop()
        node?.stop()
        node = nil
        XCTAssertEqual(try openCanary(canary), 0, "no agent, no enforcement pins in this test")
        let restarted = try startNode("n1", labels: "role=web", etcd: etcd, ttl: 5, extra: ["--fleet-state-dir", stateDir])
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, try restarted.status().isEmpty { usleep(100_000) }
        XCTAssertEqual(try restarted.status().first?["mode"] as? String, "enforce")
        XCTAssertEqual(try openCanary(canary), SIGKILL, "the local copy (generation 3, enforce) must be enforced without etcd")
        try etcd.start()
        _ = try waitForStatus(etcd) { state($0, policy: name, node: "n1").map { $0.generation == 3 && $0.state == "loaded" } == true }
        restarted.stop()
    }

    func testFleetCommandRefusesBadInputAndConcurrentWritesEachGetAGeneration() throws {
        try KernelTest.requireRoot()
        let etcd = try EtcdFixture()
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bad = dir + "/bad.yaml"
        try
            "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: bad\nspec:\n  kprobes:\n  - call: fd_install\n    selectors:\n    - matchArgs:\n      - index: 9\n        operator: Equal\n        values: [x]\n"
            .write(toFile: bad, atomically: true, encoding: .utf8)
        var out = try fleet(etcd, ["policy", "apply", bad], expect: 2)
        XCTAssertTrue(out.contains("bad.yaml:"), "a positioned error: \(out)")
        let good = try canaryPolicy(name: "good", canary: dir + "/canary", directory: dir)
        out = try fleet(etcd, ["policy", "apply", good, "--nodes", "role"], expect: 2)
        XCTAssertTrue(out.contains("label=value"), out)
        out = try fleet(etcd, ["policy", "apply", good, "--mode", "loud"], expect: 2)
        XCTAssertTrue(out.contains("enforce or monitor"), out)
        out = try fleet(etcd, ["policy", "mode", "absent", "enforce"], expect: 2)
        XCTAssertTrue(out.contains("no fleet policy named absent"), out)
        XCTAssertEqual(try etcd.ctl(["get", "--prefix", "--keys-only", "/vigil/"]).trimmingCharacters(in: .whitespacesAndNewlines), "", "nothing written")
        let down = try KernelTest.run(vigil, ["fleet", "policy", "list", "--kvstore-endpoints", "http://127.0.0.1:1"])
        XCTAssertEqual(down.status, 1)
        XCTAssertTrue(down.stderr.contains("etcd unavailable"), down.stderr)
        // an endpoint that is down is passed over for the next one in the list
        let second = try KernelTest.run(vigil, ["fleet", "policy", "list", "--kvstore-endpoints", "http://127.0.0.1:1," + etcd.endpoint])
        XCTAssertEqual(second.status, 0, "the second endpoint answers: \(second.stderr)")
        let neither = try KernelTest.run(vigil, ["fleet", "policy", "list", "--kvstore-endpoints", "http://127.0.0.1:1,http://127.0.0.1:2"])
        XCTAssertEqual(neither.status, 1)
        XCTAssertTrue(neither.stderr.contains("127.0.0.1:1") && neither.stderr.contains("127.0.0.1:2"), "names both: \(neither.stderr)")

        // writers racing on one policy: each write lands at its own generation, none is lost
        let writers = (0..<4).map { i -> Process in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: vigil)
            p.arguments = ["fleet", "policy", "apply", good, "--nodes", "writer=w\(i)", "--kvstore-endpoints", etcd.endpoint]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            return p
        }
        for p in writers { try p.run() }
        for p in writers { p.waitUntilExit() }
        XCTAssertEqual(writers.map(\.terminationStatus), [0, 0, 0, 0])
        let list = try fleet(etcd, ["policy", "list", "--json"])
        let policies = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(list.utf8)) as? [[String: Any]])
        XCTAssertEqual(policies.first?["generation"] as? Int, 4, list)
    }

    func testMutualTLSAndPasswordAuthentication() throws {
        try KernelTest.require(.tracepoint)
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let policy = try canaryPolicy(name: "fleet-tls", canary: dir + "/canary", directory: dir)

        // TLS with client certificates: the agent and the command with the node's certificate
        let secure = try EtcdFixture(tls: true)
        let node = try startNode("secure-1", labels: "role=web", etcd: secure)
        try fleet(secure, ["policy", "apply", policy])
        _ = try waitForStatus(secure) { state($0, policy: "fleet-tls", node: "secure-1")?.state == "loaded" }
        // without the client certificate etcd refuses the handshake: a clear error, exit 1
        var r = try KernelTest.run(vigil, ["fleet", "policy", "list", "--kvstore-endpoints", secure.endpoint, "--kvstore-ca", secure.ca])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("etcd"), r.stderr)
        // plain http to a TLS port fails too, it never falls back
        r = try KernelTest.run(vigil, ["fleet", "policy", "list", "--kvstore-endpoints", "http://127.0.0.1:\(secure.clientPort)"])
        XCTAssertEqual(r.status, 1, r.stderr)
        node.stop()

        // password authentication: a user whose role may only touch /vigil/
        let etcd = try EtcdFixture()
        try etcd.ctl(["user", "add", "root", "--new-user-password", "root-pw"])
        try etcd.ctl(["user", "add", "vigil", "--new-user-password", "node-pw"])
        try etcd.ctl(["role", "add", "vigil-rw"])
        try etcd.ctl(["role", "grant-permission", "vigil-rw", "--prefix=true", "readwrite", "/vigil/"])
        try etcd.ctl(["user", "grant-role", "vigil", "vigil-rw"])
        try etcd.ctl(["auth", "enable"])
        let password = dir + "/password"
        try "node-pw\n".write(toFile: password, atomically: true, encoding: .utf8)
        let auth = ["--kvstore-user", "vigil", "--kvstore-password-file", password]
        r = try KernelTest.run(vigil, ["fleet", "policy", "apply", policy] + etcd.kvstoreArguments + auth)
        XCTAssertEqual(r.status, 0, r.stderr)
        let authed = try startNode("auth-1", labels: "role=web", etcd: etcd, extra: auth)
        let deadline = Date().addingTimeInterval(15)
        var states = ""
        while Date() < deadline {
            states = (try? KernelTest.run(vigil, ["fleet", "status"] + etcd.kvstoreArguments + auth).stdout) ?? ""
            if states.contains("1/1 nodes at generation 1") { break }
            usleep(200_000)
        }
        XCTAssertTrue(states.contains("1/1 nodes at generation 1"), states)
        // no password, or a wrong one: refused by etcd, said so
        r = try KernelTest.run(vigil, ["fleet", "policy", "list"] + etcd.kvstoreArguments)
        XCTAssertEqual(r.status, 1, r.stderr)
        try "wrong\n".write(toFile: password, atomically: true, encoding: .utf8)
        r = try KernelTest.run(vigil, ["fleet", "policy", "list"] + etcd.kvstoreArguments + auth)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("refused"), r.stderr)
        authed.stop()
    }
}
