import Foundation
import SwiftProtobuf
import TetragonAPI
import XCTest

// kernel-test-host-only: the API is user space (its kill and event paths are the tracepoint tier's, proven in the guests by PolicyTracepointTests); protoc and the Python client took 4-8 of the guests' 40 emulated minutes.

/// The agent's Tetragon-compatible gRPC API, driven by a client that is not Vigil's: Python
/// grpcio with messages protoc generates from api/v1 (tests/api/tetragon_client.py), on the
/// agent's unix socket, against the running kernel.
final class TetragonAPITests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let cat = URL(fileURLWithPath: "/bin/cat").resolvingSymlinksInPath().path
    static let uname = URL(fileURLWithPath: "/bin/uname").resolvingSymlinksInPath().path

    /// Runs the Python client (on the agent's unix socket, or `via` other connection
    /// arguments: --address, --ca, ...); its one JSON document and exit status.
    func client(
        _ agent: AgentHarness, _ args: [String], via connection: [String]? = nil, file: StaticString = #filePath, line: UInt = #line
    ) throws -> (json: [String: Any], status: Int32) {
        try requireGrpcio()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments =
            [Self.repository + "/tests/api/tetragon_client.py"] + (connection ?? ["--socket", agent.socketPath]) + ["--protos", Self.repository + "/api/v1"]
            + args
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            XCTFail(
                "client \(args) printed no JSON (status \(p.terminationStatus)): \(String(decoding: data, as: UTF8.self)) \(errText)", file: file, line: line)
            throw KernelTest.Stop(reason: "client failed")
        }
        return (json, p.terminationStatus)
    }

    /// python3-grpcio, python3-protobuf, protoc and the well-known types protoc imports
    /// (libprotobuf-dev) come from scripts/install-deps.sh --test: missing, the test fails
    /// (they are not a kernel capability to skip for).
    func requireGrpcio() throws {
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        check.arguments = ["-c", "import grpc, google.protobuf"]
        check.standardError = FileHandle.nullDevice
        guard (try? check.run()) != nil else { throw KernelTest.Stop(reason: "no /usr/bin/python3") }
        check.waitUntilExit()
        guard check.terminationStatus == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/protoc"),
            FileManager.default.fileExists(atPath: "/usr/include/google/protobuf/duration.proto")
        else {
            XCTFail("python3-grpcio, python3-protobuf, protobuf-compiler or libprotobuf-dev missing: run scripts/install-deps.sh --test")
            throw KernelTest.Stop(reason: "no grpcio")
        }
    }

    static func openatPolicy(name: String) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: \(name)
        spec:
          tracepoints:
          - subsystem: syscalls
            event: sys_enter_openat
            args:
            - index: 5
              type: int
            - index: 6
              type: string
            selectors:
            - matchArgs:
              - index: 1
                operator: Equal
                values: ["/etc/hostname"]
              matchBinaries:
              - operator: In
                values: ["\(cat)"]
        """
    }

    func testHealthVersionInfoAndFilteredEventStream() throws {
        try KernelTest.require(.tracepoint)
        let agent = try AgentHarness()
        let health = try client(agent, ["health"]).json
        let status = (health["health_status"] as? [[String: Any]])?.first
        XCTAssertEqual(status?["status"] as? String, "HEALTH_STATUS_RUNNING", "\(health)")
        let version = try client(agent, ["version"]).json["version"] as? String ?? ""
        XCTAssertNotNil(version.range(of: #"^\d+\.\d+\.\d+"#, options: .regularExpression), "version \(version)")

        // allow list: execs of uname only; every event that comes must be one
        let allow = #"[{"binary_regex":["^\#(Self.uname)$"],"event_set":["PROCESS_EXEC"]}]"#
        // the trigger runs sh and true before uname (same pid as sh): events the filter must stop
        let trigger = #"["/bin/sh","-c","/bin/true; exec \#(Self.uname) -a"]"#
        let r = try client(agent, ["events", "--allow", allow, "--trigger", trigger, "--timeout", "15"]).json
        let events = r["events"] as? [[String: Any]] ?? []
        let pids = Set((r["pids"] as? [Int]) ?? [])
        XCTAssertTrue(r["error"] is NSNull, "stream error: \(r["error"] ?? "")")
        XCTAssertFalse(pids.isEmpty)
        XCTAssertTrue(events.contains { $0.kind == "process_exec" && pids.contains($0.pid) }, "no exec of the client's uname in \(events.count) events")
        XCTAssertTrue(
            events.allSatisfy { $0.kind == "process_exec" && $0.process["binary"] as? String == Self.uname }, "the allow list let through \(events.map(\.kind))"
        )
        XCTAssertTrue(events.allSatisfy { $0["node_name"] as? String == "test-node" })

        // field filter: only the fields asked for
        let fields = #"[{"event_set":["PROCESS_EXEC"],"fields":"process.binary,process.pid","action":"INCLUDE"}]"#
        let f = try client(agent, ["events", "--allow", allow, "--fields", fields, "--trigger", #"["\#(Self.uname)"]"#, "--timeout", "15"]).json
        let filtered = (f["events"] as? [[String: Any]]) ?? []
        let mine = try XCTUnwrap(filtered.first { ($0["process_exec"] as? [String: Any]) != nil }, "\(f)")
        XCTAssertEqual(Set(mine.process.keys), ["binary", "pid"], "field filter kept \(mine.process.keys.sorted())")
        XCTAssertNil(mine.body["parent"], "parent is not among the fields")

        // a filter the agent cannot honour is refused, never run wider
        let bad = try client(agent, ["events", "--allow", #"[{"binary_regex":["(unclosed"]}]"#, "--timeout", "5"]).json
        XCTAssertEqual((bad["error"] as? [String: Any])?["code"] as? String, "INVALID_ARGUMENT", "\(bad)")
    }

    func testPoliciesAddedListedStreamedDeletedAndKeptAcrossRestarts() throws {
        try KernelTest.require(.tracepoint)
        let store = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: store) }
        let policyFile = store + "/api-openat.yaml"
        try Self.openatPolicy(name: "api-openat").write(toFile: policyFile, atomically: true, encoding: .utf8)
        var agent: AgentHarness? = try AgentHarness(extraArguments: ["--api-policy-dir", store + "/api"])
        let a = try XCTUnwrap(agent)

        let added = try client(a, ["add", policyFile])
        XCTAssertEqual(added.status, 0, "\(added.json)")
        let listed = (try client(a, ["list"]).json["policies"] as? [[String: Any]]) ?? []
        let policy = try XCTUnwrap(listed.first { $0["name"] as? String == "api-openat" }, "\(listed)")
        XCTAssertEqual(policy["state"] as? String, "TP_STATE_ENABLED")
        XCTAssertEqual(policy["enabled"] as? Bool, true)

        // its events reach a GetEvents subscriber
        let r = try client(
            a,
            [
                "events", "--allow", #"[{"event_set":["PROCESS_TRACEPOINT"]}]"#, "--trigger", #"["\#(Self.cat)","/etc/hostname"]"#, "--want-kind",
                "process_tracepoint", "--timeout", "15",
            ]
        ).json
        let pids = Set((r["pids"] as? [Int]) ?? [])
        let hit = ((r["events"] as? [[String: Any]]) ?? []).first { $0.kind == "process_tracepoint" && pids.contains($0.pid) }
        XCTAssertEqual(hit?.body["policy_name"] as? String, "api-openat", "\(r)")

        // refusals name what is wrong, and change nothing
        let again = try client(a, ["add", policyFile])
        XCTAssertEqual(again.status, 3)
        XCTAssertEqual(again.json["error"] as? String, "ALREADY_EXISTS", "\(again.json)")
        let broken = store + "/broken.yaml"
        try "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: broken\nspec:\n  kprobes:\n  - call: 12\n    selectors: nope\n"
            .write(toFile: broken, atomically: true, encoding: .utf8)
        let invalid = try client(a, ["add", broken])
        XCTAssertEqual(invalid.json["error"] as? String, "INVALID_ARGUMENT", "\(invalid.json)")
        XCTAssertTrue((invalid.json["details"] as? String ?? "").contains("spec.kprobes[0]"), "the error names where: \(invalid.json)")
        let afterRefusals = (try client(a, ["list"]).json["policies"] as? [[String: Any]]) ?? []
        XCTAssertEqual(afterRefusals.compactMap { $0["name"] as? String }, ["api-openat"])

        // kept across a restart: the API's policies are the agent's state, not the client's
        a.stop()
        agent = nil
        let b = try AgentHarness(extraArguments: ["--api-policy-dir", store + "/api"])
        let relisted = (try client(b, ["list"]).json["policies"] as? [[String: Any]]) ?? []
        XCTAssertEqual(relisted.compactMap { $0["name"] as? String }, ["api-openat"], "after a restart: \(relisted)")

        let deleted = try client(b, ["delete", "api-openat"])
        XCTAssertEqual(deleted.status, 0, "\(deleted.json)")
        XCTAssertEqual((try client(b, ["list"]).json["policies"] as? [[String: Any]])?.count ?? 0, 0)
        let missing = try client(b, ["delete", "api-openat"])
        XCTAssertEqual(missing.json["error"] as? String, "NOT_FOUND", "\(missing.json)")
        // deleted means gone from the kernel: cat's open is no longer reported
        let run = try KernelTest.run(Self.cat, ["/etc/hostname"])
        let all = try b.barrier()
        XCTAssertFalse(all.contains { $0.kind == "process_tracepoint" && $0.pid == Int(run.pid) }, "a deleted policy still reported")
    }

    func testAPolicyFromAFileIsNotTheAPIsToDelete() throws {
        try KernelTest.require(.tracepoint)
        let agent = try AgentHarness(policies: [Self.openatPolicy(name: "from-file")])
        let r = try client(agent, ["delete", "from-file"])
        XCTAssertEqual(r.json["error"] as? String, "FAILED_PRECONDITION", "\(r.json)")
        XCTAssertTrue((r.json["details"] as? String ?? "").contains("policy-0.yaml"), "names the file that owns it: \(r.json)")
        let listed = (try client(agent, ["list"]).json["policies"] as? [[String: Any]]) ?? []
        XCTAssertEqual(listed.first?["state"] as? String, "TP_STATE_ENABLED")
    }

    func testASecondAgentOnTheSameSocketIsRefusedNamingTheFirst() throws {
        try KernelTest.require(.tracepoint)
        let first = try AgentHarness()
        let second = try AgentHarness(extraArguments: ["--server-address", "unix://" + first.socketPath], expectFailure: true)
        XCTAssertEqual(second.process.terminationStatus, 1)
        let said = second.stderrText()
        XCTAssertTrue(said.contains("pid \(first.process.processIdentifier)"), "names the serving agent: \(said)")
        // the first still serves
        let health = try client(first, ["health"]).json
        XCTAssertEqual((health["health_status"] as? [[String: Any]])?.first?["status"] as? String, "HEALTH_STATUS_RUNNING")
    }
}

/// Every exported line of a kind Tetragon has parses strictly (no unknown field, every enum
/// name known) as Tetragon's GetEventsResponse, with every optional part of the export on.
final class StrictTetragonExportTests: XCTestCase {
    func testEveryTetragonKindParsesStrictlyUnderAllExportFlags() throws {
        try KernelTest.require(.tracepoint)
        let agent = try AgentHarness(
            extraArguments: ["--enable-process-cred", "--enable-process-ns", "--enable-ancestors"],
            policies: [TetragonAPITests.openatPolicy(name: "strict-openat")])
        let run = try KernelTest.run(TetragonAPITests.cat, ["/etc/hostname"])
        _ = try agent.waitForEvents("process_tracepoint") { evs in evs.contains { $0.pid == Int(run.pid) } }
        let all = try agent.barrier()
        let tetragonKinds: Set<String> = [
            "process_exec", "process_exit", "process_kprobe", "process_tracepoint", "process_uprobe", "process_lsm", "process_throttle",
            "process_loader", "process_usdt", "rate_limit_info",
        ]
        let text = try String(contentsOfFile: agent.exportPath, encoding: .utf8)
        var parsed = Set<String>()
        for line in text.split(separator: "\n") {
            guard let kind = (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?.kind, tetragonKinds.contains(kind) else { continue }
            do {
                _ = try Tetragon_GetEventsResponse(jsonString: String(line))
                parsed.insert(kind)
            } catch {
                XCTFail("\(kind) does not parse as Tetragon's GetEventsResponse (\(error)): \(line.prefix(600))")
                return
            }
        }
        XCTAssertTrue(parsed.isSuperset(of: ["process_exec", "process_exit", "process_tracepoint"]), "kinds seen: \(parsed.sorted()) of \(all.count) events")
        // the capability Tetragon spells without CAP_: root's exec carries it
        XCTAssertTrue(text.contains("\"DAC_OVERRIDE\""), "root's effective capabilities name DAC_OVERRIDE")
        XCTAssertFalse(text.contains("CAP_DAC_OVERRIDE"))
    }
}

extension TetragonAPITests {
    /// ConfigureTracingPolicy from Python: disable (nothing in the kernel, nothing reported),
    /// enable, and monitor mode (a Sigkill policy reports and no longer kills).
    func testConfigureDisablesEnablesAndSwitchesMode() throws {
        try KernelTest.require(.tracepoint)
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: "/usr/bin/true", toPath: "\(dir)/dropper")
        let policy = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: configure-kill
            spec:
              tracepoints:
              - subsystem: sched
                event: sched_process_exec
                selectors:
                - matchBinaries:
                  - operator: Prefix
                    values: ["\(dir)/"]
                  matchActions:
                  - action: Sigkill
            """
        let agent = try AgentHarness(policies: [policy])
        let state = { () throws -> [String: Any] in
            let listed = (try self.client(agent, ["list"]).json["policies"] as? [[String: Any]]) ?? []
            return try XCTUnwrap(listed.first { $0["name"] as? String == "configure-kill" })
        }
        let dropper = { try KernelTest.run("/bin/sh", ["-c", "\(dir)/dropper; exit $?"]).status }
        XCTAssertEqual(try dropper(), 137, "enforcing: killed")

        XCTAssertEqual(try client(agent, ["configure", "configure-kill", "--enable", "false"]).status, 0)
        XCTAssertEqual(try state()["state"] as? String, "TP_STATE_DISABLED")
        XCTAssertEqual(try dropper(), 0, "disabled: nothing in the kernel kills")

        XCTAssertEqual(try client(agent, ["configure", "configure-kill", "--enable", "true"]).status, 0)
        XCTAssertEqual(try state()["state"] as? String, "TP_STATE_ENABLED")
        XCTAssertEqual(try dropper(), 137, "enabled again: killed")

        XCTAssertEqual(try client(agent, ["configure", "configure-kill", "--mode", "TP_MODE_MONITOR"]).status, 0)
        XCTAssertEqual(try state()["mode"] as? String, "TP_MODE_MONITOR")
        let watched = try KernelTest.run("/bin/sh", ["-c", "\(dir)/dropper; exit $?"])
        XCTAssertEqual(watched.status, 0, "monitor: reported, not killed")
        // (the shell forks the dropper: its event carries the dropper's own pid, the shell as parent)
        let mine = { (e: [String: Any]) in e.parent["pid"] as? Int == Int(watched.pid) && e.body["policy_name"] as? String == "configure-kill" }
        let events = try agent.waitForEvents("process_tracepoint") { evs in evs.contains(where: mine) }
        XCTAssertTrue(events.contains(where: mine), "monitor mode still reports")

        let missing = try client(agent, ["configure", "no-such-policy", "--enable", "false"])
        XCTAssertEqual(missing.json["error"] as? String, "NOT_FOUND", "\(missing.json)")
    }
}
