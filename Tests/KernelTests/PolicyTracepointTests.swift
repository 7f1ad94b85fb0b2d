import BPFKit
import BPFTestObjects
import Foundation
import XCTest

// kernel-test-host-only: the tracepoint tier, the host's own; the guests share two emulated cores, and their attack and detection suites load the same tracepoint programs
/// The policy engine on the tracepoint tier (every kernel, the host's included), through
/// the real `vigil agent`: in-kernel filtering, Sigkill, rate limits, monitor mode,
/// atomic load, SIGHUP reload.
final class PolicyTracepointTests: XCTestCase {
    /// /bin/cat's real path (merged /usr: the kernel reports /usr/bin/cat).
    static let cat = URL(fileURLWithPath: "/bin/cat").resolvingSymlinksInPath().path

    /// sys_enter_openat for `binary`; with a `prefix`, the hook reads dfd and filename and a
    /// Prefix filter tests the filename; without one it reads no argument.
    static func openatPolicy(name: String, prefix: String?, binary: String, actions: String = "") -> String {
        let args =
            prefix == nil
            ? ""
            : """
                args:
                - index: 5
                  type: int
                - index: 6
                  type: string
            """
        let matchArgs =
            prefix.map {
                """
                    - matchArgs:
                      - index: 1
                        operator: Prefix
                        values: ["\($0)"]
                      matchBinaries:
                """
            } ?? """
                    - matchBinaries:
                """
        return """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: \(name)
            spec:
              tracepoints:
              - subsystem: syscalls
                event: sys_enter_openat
            \(args)
                selectors:
            \(matchArgs)
                  - operator: In
                    values: ["\(binary)"]
            \(actions)
            """
    }

    func testPrefixAndBinaryFilterInKernel() throws {
        try KernelTest.require(.tracepoint)
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outside = dir + "/not-etc"
        FileManager.default.createFile(atPath: outside, contents: Data("x\n".utf8))
        let agent = try AgentHarness(policies: [Self.openatPolicy(name: "etc-by-cat", prefix: "/etc/", binary: Self.cat)])
        let hit = try KernelTest.run(Self.cat, ["/etc/hostname"])
        let miss = try KernelTest.run(Self.cat, [outside])
        let otherBinary = try KernelTest.run("/usr/bin/head", ["-c1", "/etc/hostname"])
        XCTAssertEqual(hit.status, 0)
        let events = try agent.waitForEvents("process_tracepoint") { evs in evs.contains { $0.pid == Int(hit.pid) && Self.path($0) == "/etc/hostname" } }
        let mine = events.filter { $0.pid == Int(hit.pid) }
        let event = try XCTUnwrap(mine.first { Self.path($0) == "/etc/hostname" }, "no event for cat /etc/hostname; got \(events.count) events")
        XCTAssertEqual(event.body["subsys"] as? String, "syscalls")
        XCTAssertEqual(event.body["event"] as? String, "sys_enter_openat")
        XCTAssertEqual(event.body["policy_name"] as? String, "etc-by-cat")
        XCTAssertEqual(event.body["action"] as? String, "KPROBE_ACTION_POST")
        XCTAssertEqual(event.process["binary"] as? String, Self.cat)
        XCTAssertEqual(event.args.first?["int_arg"] as? Int, -100, "dfd AT_FDCWD read as a 4-byte int")
        XCTAssertNotNil(event.parent["exec_id"], "the parent comes from the process cache")
        XCTAssertTrue(events.allSatisfy { (Self.path($0) ?? "").hasPrefix("/etc/") }, "only /etc/ opens leave the kernel")
        XCTAssertFalse(events.contains { $0.pid == Int(miss.pid) && Self.path($0) == outside }, "cat of a file outside /etc/ is filtered in the kernel")
        XCTAssertFalse(events.contains { $0.pid == Int(otherBinary.pid) }, "head is not in matchBinaries")
        let status = try agent.status()
        let hooks = try XCTUnwrap(status.first?["hooks"] as? [[String: Any]])
        XCTAssertEqual(hooks.first?["state"] as? String, "attached")
        XCTAssertEqual(agent.stop(), 0)
    }

    /// `list:NAME` as a matchArgs value (Tetragon's list-syscalls-tracepoint example): the
    /// numbers of the list's syscalls, tested in the kernel against raw_syscalls' id.
    func testSyscallListValueFiltersRawSyscallIdsInKernel() throws {
        try KernelTest.require(.tracepoint)
        let python = URL(fileURLWithPath: "/usr/bin/python3").resolvingSymlinksInPath().path
        let agent = try AgentHarness(policies: [
            """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: list-syscalls-tracepoint}
            spec:
              lists:
              - name: dups
                type: syscalls
                values: ["sys_dup", "sys_dup2"]
              tracepoints:
              - subsystem: raw_syscalls
                event: sys_enter
                args: [{index: 4, type: uint64}]
                selectors:
                - matchArgs: [{index: 0, operator: InMap, values: ["list:dups"]}]
                  matchBinaries: [{operator: In, values: ["\(python)"]}]
            """
        ])
        let run = try KernelTest.run(
            python, ["-c", "import ctypes, os; libc = ctypes.CDLL(None); libc.dup(0); os.getppid(); libc.dup2(0, 9); libc.dup3(0, 10, 0)"])
        XCTAssertEqual(run.status, 0, run.stderr)
        let events = try agent.waitForEvents("process_tracepoint") { evs in
            Set(evs.filter { $0.pid == Int(run.pid) }.compactMap { $0.args.first?["size_arg"] as? Int }).isSuperset(of: [32, 33])
        }
        let ids = events.filter { $0.pid == Int(run.pid) }.compactMap { $0.args.first?["size_arg"] as? Int }
        XCTAssertTrue(Set(ids).isSuperset(of: [32, 33]), "dup (32) and dup2 (33) are reported: \(ids)")
        XCTAssertTrue(ids.allSatisfy { $0 == 32 || $0 == 33 }, "nothing but the list's syscalls leaves the kernel (dup3 292, getppid 110): \(ids)")
        XCTAssertEqual(agent.stop(), 0)
    }

    /// Tetragon's canary-token actions, carried out by the agent for the posted event: GetUrl
    /// fetches its URL (a listener of the test's sees the request), DnsLookup resolves its name.
    func testGetUrlAndDnsLookupAreCarriedOutForAMatch() throws {
        try KernelTest.require(.tracepoint)
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let canary = dir + "/canary"
        FileManager.default.createFile(atPath: canary, contents: Data("x\n".utf8))
        let (lfd, port) = try PolicySocketTests.listener()
        defer { close(lfd) }
        let token = "canary-\(UUID().uuidString.prefix(8))"
        let url = "http://127.0.0.1:\(port)/\(token)?from=vigil"
        let agent = try AgentHarness(policies: [
            Self.openatPolicy(
                name: "canary", prefix: canary, binary: Self.cat,
                actions: """
                          matchActions:
                          - {action: GetUrl, argUrl: "\(url)"}
                          - {action: DnsLookup, argFqdn: localhost}
                    """)
        ])
        let other = try KernelTest.run(Self.cat, ["/etc/hostname"])
        XCTAssertEqual(other.status, 0)
        let hit = try KernelTest.run(Self.cat, [canary])
        XCTAssertEqual(hit.status, 0)
        // The agent's request: accept it, answer 204.
        var pfd = pollfd(fd: lfd, events: Int16(POLLIN), revents: 0)
        XCTAssertEqual(poll(&pfd, 1, Int32(KernelTest.eventTimeout * 1000)), 1, "the agent connects to the GetUrl listener")
        let conn = accept(lfd, nil, nil)
        XCTAssertGreaterThanOrEqual(conn, 0)
        var buffer = [UInt8](repeating: 0, count: 1024)
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let n = recv(conn, &buffer, buffer.count, 0)
        let request = String(decoding: buffer.prefix(max(n, 0)), as: UTF8.self)
        _ = "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n".withCString { send(conn, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        close(conn)
        XCTAssertTrue(request.hasPrefix("GET /\(token)?from=vigil HTTP/1.1\r\n"), request)
        XCTAssertTrue(request.contains("\r\nHost: 127.0.0.1:\(port)\r\n"), request)
        var pfd2 = pollfd(fd: lfd, events: Int16(POLLIN), revents: 0)
        XCTAssertEqual(poll(&pfd2, 1, 500), 0, "one request: cat of /etc/hostname was filtered in the kernel")

        let events = try agent.waitForEvents("process_tracepoint") { evs in evs.contains { $0.pid == Int(hit.pid) } }
        let event = try XCTUnwrap(events.first { $0.pid == Int(hit.pid) })
        XCTAssertEqual(event.body["action"] as? String, "KPROBE_ACTION_GETURL")
        usleep(500_000)  // the lookup runs after the GET, on the agent's action queue
        XCTAssertEqual(agent.stop(), 0)
        let log = agent.stderrText()
        XCTAssertTrue(log.contains("GetUrl \(url): HTTP/1.1 204 No Content"), log)
        XCTAssertTrue(log.contains("DnsLookup localhost: resolved to"), log)
    }

    /// An exec hook's matchBinaries sees the new image even when another tracer's perf event
    /// sat on sched_process_exec before the agent started (its perf probe then runs before the
    /// process sensor's tp_btf program; a hook on that perf probe saw the old image: a dropper
    /// in /tmp ran, and children of a program in /tmp were killed). Regression of a CI run.
    func testExecHookSeesTheNewImageWhenAnotherTracerWasThereFirst() throws {
        try KernelTest.require(.tpBTF)
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: "/usr/bin/true", toPath: "\(dir)/dropper")
        let tracer = try BPFObject(bytes: XCTUnwrap(BPFTestObjects.object(named: "floor")), name: "floor")
        try tracer.keepOnly(programs: ["floor_empty"])
        try tracer.load()
        let tracerLink = try tracer.program("floor_empty").attachTracepoint(category: "sched", name: "sched_process_exec")
        defer { tracerLink.close() }
        let policy = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: kill-exec-from-scratch
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
        defer { _ = agent.stop() }
        let hooks = try XCTUnwrap(try agent.status().first?["hooks"] as? [[String: Any]])
        XCTAssertEqual(hooks.first?["tier"] as? String, "tp_btf/sched_process_exec")
        let dropper = try KernelTest.run("/bin/sh", ["-c", "\(dir)/dropper; exit $?"])
        let benign = try KernelTest.run("/bin/sh", ["-c", "/usr/bin/true; exit $?"])
        XCTAssertEqual(dropper.status, 137, "the program in the scratch directory is killed at exec")
        XCTAssertEqual(benign.status, 0, "a program elsewhere runs")
        let events = try agent.waitForEvents("process_tracepoint") { evs in evs.contains { ($0.process["binary"] as? String) == "\(dir)/dropper" } }
        // Where the exec is judged before it commits (BPF-LSM's bprm hooks, the exec lowering),
        // the caller is still the shell that execs; the file argument is then the dropper.
        let aboutDropper = { (e: [String: Any]) -> Bool in
            if (e.process["binary"] as? String)?.hasPrefix(dir + "/") ?? false { return true }
            return e.args.contains { a in
                ((a["linux_binprm_arg"] ?? a["file_arg"]) as? [String: Any]).flatMap { $0["path"] as? String }?.hasPrefix(dir + "/") ?? false
            }
        }
        XCTAssertTrue(
            events.allSatisfy(aboutDropper),
            "only the dropper's exec is reported: \(events.map { ($0.process["binary"] ?? "", $0.args) })")
    }

    /// The filename argument: a judged open reports the file it opened (file_arg), others the resolved name.
    static func path(_ e: [String: Any]) -> String? {
        guard e.args.count > 1 else { return nil }
        return (e.args[1]["file_arg"] as? [String: Any])?["path"] as? String ?? e.args[1]["string_arg"] as? String
    }

    static func execvePolicy(name: String, binary: String, mode: String? = nil) -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata:
          name: \(name)
        spec:
        \(mode.map { "  options:\n  - name: policy-mode\n    value: \($0)" } ?? "")
          tracepoints:
          - subsystem: syscalls
            event: sys_enter_execve
            args:
            - index: 5
              type: string
            selectors:
            - matchArgs:
              - index: 0
                operator: Equal
                values: ["\(binary)"]
              matchActions:
              - action: Sigkill
        """
    }

    func testSigkillAtExecOfNamedBinaryOnly() throws {
        try KernelTest.require(.tracepoint)
        try KernelTest.require(.sendSignal)
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let forbidden = dir + "/forbidden-tool"
        try FileManager.default.copyItem(atPath: "/bin/true", toPath: forbidden)
        let agent = try AgentHarness(policies: [Self.execvePolicy(name: "kill-forbidden", binary: forbidden)])
        let killed = try KernelTest.run("/bin/sh", ["-c", forbidden])
        let allowed = try KernelTest.run("/bin/sh", ["-c", "/bin/true"])
        XCTAssertEqual(killed.status, 137, "the shell reports its child killed by SIGKILL (128+9)")
        XCTAssertEqual(allowed.status, 0, "other binaries run")
        let events = try agent.waitForEvents("process_tracepoint") { $0.contains { $0.body["action"] as? String == "KPROBE_ACTION_SIGKILL" } }
        let kill = try XCTUnwrap(events.first { $0.body["action"] as? String == "KPROBE_ACTION_SIGKILL" }, "no Sigkill event")
        XCTAssertEqual(kill.args.first?["string_arg"] as? String, forbidden)
        let counters = try agent.waitForCounters { ($0["actions"] ?? 0) >= 1 }
        XCTAssertGreaterThanOrEqual(counters["actions"] ?? 0, 1, "the kernel counted the kill")
    }

    func testMonitorModeOnlyPosts() throws {
        try KernelTest.require(.tracepoint)
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let forbidden = dir + "/forbidden-tool"
        try FileManager.default.copyItem(atPath: "/bin/true", toPath: forbidden)
        let agent = try AgentHarness(policies: [Self.execvePolicy(name: "kill-forbidden-monitor", binary: forbidden, mode: "monitor")])
        let run = try KernelTest.run("/bin/sh", ["-c", forbidden])
        XCTAssertEqual(run.status, 0, "monitor mode does not kill")
        let events = try agent.waitForEvents("process_tracepoint") { $0.contains { $0.args.first?["string_arg"] as? String == forbidden } }
        let e = try XCTUnwrap(events.first { $0.args.first?["string_arg"] as? String == forbidden }, "monitor mode still posts")
        XCTAssertEqual(e.body["action"] as? String, "KPROBE_ACTION_POST")
    }

    func testRateLimitPostsOncePerPeriod() throws {
        try KernelTest.require(.tracepoint)
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/watched"
        FileManager.default.createFile(atPath: file, contents: Data("x\n".utf8))
        let sh = URL(fileURLWithPath: "/bin/sh").resolvingSymlinksInPath().path
        let limited = Self.openatPolicy(
            name: "rate-limited", prefix: dir, binary: sh,
            actions: "      matchActions:\n      - action: Post\n        rateLimit: 1m\n        rateLimitScope: process")
        let agent = try AgentHarness(policies: [limited])
        // One shell process opens the same file 30 times (each `<` redirection is an openat).
        let loop = try KernelTest.run("/bin/sh", ["-c", "i=0; while [ $i -lt 30 ]; do read x < \(file); i=$((i+1)); done"])
        XCTAssertEqual(loop.status, 0)
        // A second process is a new scope: it posts once too.
        let second = try KernelTest.run("/bin/sh", ["-c", "read x < \(file); read x < \(file)"])
        let events = try agent.waitForEvents("process_tracepoint") { evs in evs.contains { $0.pid == Int(second.pid) } }
        let fromLoop = events.filter { $0.pid == Int(loop.pid) && Self.path($0) == file }
        XCTAssertEqual(fromLoop.count, 1, "30 opens, one event per minute per process")
        XCTAssertEqual(events.filter { $0.pid == Int(second.pid) }.count, 1)
        // The status file is rewritten every second and `runs` counts every openat on the
        // machine: wait for a snapshot taken after both posts seen above, not just any with 32 runs.
        let counters = try agent.waitForCounters { ($0["runs"] ?? 0) >= 32 && ($0["posted"] ?? 0) >= 2 }
        XCTAssertGreaterThanOrEqual(counters["runs"] ?? 0, 32, "the hook ran for every open; only the posts were limited")
        XCTAssertEqual(counters["posted"], 2)
    }

    /// `vigil policy list` shows the kernel's own run time per hook when the kernel counts it
    /// (sysctl kernel.bpf_stats_enabled=1), and nothing when it does not.
    func testKernelRunTimePerHookWhenStatsAreOn() throws {
        try KernelTest.require(.tracepoint)
        let sysctl = "/proc/sys/kernel/bpf_stats_enabled"
        let before = readTextFile(sysctl)?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "0"
        try "1".write(toFile: sysctl, atomically: false, encoding: .utf8)
        defer { try? before.write(toFile: sysctl, atomically: false, encoding: .utf8) }
        let policy = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: timed}
            spec:
              tracepoints:
              - subsystem: syscalls
                event: sys_enter_getppid
                selectors:
                - matchBinaries: [{operator: In, values: ["/nonexistent/never"]}]
            """
        let agent = try AgentHarness(policies: [policy])
        for _ in 0..<2000 { _ = getppid() }
        let counters = try agent.waitForCounters { ($0["runs"] ?? 0) >= 2000 && ($0["nsPerRun"] ?? 0) > 0 }
        XCTAssertGreaterThanOrEqual(counters["runs"] ?? 0, 2000)
        let ns = try XCTUnwrap(counters["nsPerRun"], "the kernel's run time reaches the status")
        XCTAssertGreaterThan(ns, 0)
        XCTAssertLessThan(ns, 1_000_000, "a sane per-run figure (ns), not a total")
    }

    func testPolicyThatCannotLoadFailsWholeAndNamesTheReason() throws {
        try KernelTest.require(.tracepoint)
        let policy = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: half-good
            spec:
              tracepoints:
              - subsystem: syscalls
                event: sys_enter_openat
              kprobes:
              - call: vigil_no_such_function_anywhere
                syscall: false
            """
        let agent = try AgentHarness(policies: [policy], expectFailure: true)
        XCTAssertNotEqual(agent.process.terminationStatus, 0)
        let err = agent.stderrText()
        XCTAssertTrue(err.contains("half-good"), err)
        XCTAssertTrue(err.contains("vigil_no_such_function_anywhere"), err)
        XCTAssertTrue(err.contains("no hook tier of this kernel can host it"), err)
        XCTAssertTrue(err.contains("kprobe:"), "names each tier tried: \(err)")
    }

    func testSighupLoadsNewAndUnloadsRemovedPolicies() throws {
        try KernelTest.require(.tracepoint)
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = dir + "/a.yaml"
        try Self.openatPolicy(name: "policy-a", prefix: "/etc/", binary: Self.cat).write(toFile: a, atomically: true, encoding: .utf8)
        let agent = try AgentHarness(extraArguments: ["--policy-dir", dir])
        XCTAssertEqual(try agent.status().map { $0["name"] as? String }, ["policy-a"])
        try Self.openatPolicy(name: "policy-b", prefix: "/usr/", binary: Self.cat).write(toFile: dir + "/b.yaml", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: a)
        kill(agent.process.processIdentifier, SIGHUP)
        let deadline = Date().addingTimeInterval(KernelTest.eventTimeout)
        var names: [String?] = []
        repeat {
            usleep(200_000)
            names = (try? agent.status().map { $0["name"] as? String }) ?? []
        } while names != ["policy-b"] && Date() < deadline
        XCTAssertEqual(names, ["policy-b"])
        // A broken file on reload is reported; the running policies stay.
        try "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: broken}\nspec: {kprobes: [{call: 1}]}\n"
            .write(toFile: dir + "/c.yaml", atomically: true, encoding: .utf8)
        kill(agent.process.processIdentifier, SIGHUP)
        usleep(1_500_000)
        XCTAssertEqual(try agent.status().map { $0["name"] as? String }, ["policy-b"])
        XCTAssertTrue(agent.process.isRunning)
    }
}
