import BPFKit
import Foundation
import KernelFeatures
import XCTest

// kernel-test-guests: 6.1: connect enforcement by BPF-LSM and fmod_ret on the oldest kernel that has them; the guests share two emulated cores
/// A connect denied in the kernel on every kernel: through BPF-LSM where the kernel has it
/// (the guests), through cgroup/connect4+6 programs where it does not (the host), from the
/// same policy text. The deny is per binary (matchBinaries) and per destination.
final class ConnectDenyTests: XCTestCase {
    /// The tier the agent chose, as `vigil policy list` shows it: `lsm` or `cgroup/connect4`.
    static func tiers(_ agent: AgentHarness) throws -> [String] {
        let hooks = try XCTUnwrap(agent.status().first?["hooks"] as? [[String: Any]])
        return hooks.compactMap { $0["tier"] as? String }
    }

    static var lsmActive: Bool {
        FeatureProbe.shared.isSupported(.lsm) && (readTextFile("/sys/kernel/security/lsm") ?? "").split(separator: ",").contains("bpf")
    }

    /// bash's /dev/tcp connect from `binary`: its exit status and stderr.
    static func bashConnect(_ binary: String, port: UInt16) throws -> (status: Int32, stderr: String) {
        let r = try KernelTest.run(binary, ["-c", "exec 3<>/dev/tcp/127.0.0.1/\(port)"])
        return (r.status, r.stderr)
    }

    func testSocketConnectDeniedForBinaryNotOnAllowList() throws {
        try KernelTest.require(.cgroupSockAddr)
        let (lfd, port) = try PolicySocketTests.listener()
        defer { close(lfd) }
        let (lfd2, otherPort) = try PolicySocketTests.listener()
        defer { close(lfd2) }
        let dir = try KernelTest.scratchDirectory()
        let allowed = dir + "/allowed-bash"
        try FileManager.default.copyItem(atPath: "/usr/bin/bash", toPath: allowed)
        // The form users write (Tetragon's lsmhooks), with destination operators on the sockaddr.
        let policy = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: deny-lateral}
            spec:
              lsmhooks:
              - hook: socket_connect
                args: [{index: 0, type: socket}, {index: 1, type: sockaddr}]
                selectors:
                - matchArgs:
                  - {index: 1, operator: DAddr, values: ["127.0.0.0/8"]}
                  - {index: 1, operator: DPort, values: ["\(port)"]}
                  matchBinaries:
                  - {operator: NotIn, values: ["\(allowed)"]}
                  matchActions:
                  - {action: Override, argError: -1}
            """
        let agent = try AgentHarness(policies: [policy])
        let tiers = try Self.tiers(agent)
        XCTAssertEqual(tiers, Self.lsmActive ? ["lsm"] : ["cgroup/connect4", "cgroup/connect6"], "LSM where the kernel has it, cgroup programs elsewhere")

        let denied = try Self.bashConnect("/usr/bin/bash", port: port)
        XCTAssertNotEqual(denied.status, 0)
        XCTAssertTrue(denied.stderr.contains("Operation not permitted"), "the caller gets EPERM: \(denied.stderr)")
        XCTAssertEqual(try Self.bashConnect(allowed, port: port).status, 0, "the allowed binary connects")
        XCTAssertEqual(try Self.bashConnect("/usr/bin/bash", port: otherPort).status, 0, "other ports connect")

        let events = try agent.waitForEvents("process_lsm") { !$0.isEmpty }
        XCTAssertEqual(events.count, 1, "one deny event, nothing for the allowed connects")
        let e = try XCTUnwrap(events.first)
        XCTAssertEqual(e.body["function_name"] as? String, "socket_connect")
        XCTAssertEqual(e.body["action"] as? String, "KPROBE_ACTION_OVERRIDE")
        XCTAssertEqual(e.process["binary"] as? String, "/usr/bin/bash")
        XCTAssertNotNil(e.process["exec_id"] as? String)
        let sa = try XCTUnwrap(e.args.compactMap { $0["sockaddr_arg"] as? [String: Any] }.first)
        XCTAssertEqual(sa["addr"] as? String, "127.0.0.1")
        XCTAssertEqual(sa["port"] as? Int, Int(port))
    }

    /// A kprobe on tcp_connect cannot Override on any kernel here (not error-injectable, no
    /// bpf_override_return): it runs as cgroup programs everywhere, TCP only, with argError
    /// as the caller's errno.
    func testTcpConnectOverrideLoweredWithItsErrno() throws {
        try KernelTest.require(.cgroupSockAddr)
        let (lfd, port) = try PolicySocketTests.listener()
        defer { close(lfd) }
        let policy = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: refuse-port}
            spec:
              kprobes:
              - call: tcp_connect
                syscall: false
                args: [{index: 0, type: sock}]
                selectors:
                - matchArgs:
                  - {index: 0, operator: DPort, values: ["\(port)"]}
                  - {index: 0, operator: DAddr, values: ["127.0.0.1"]}
                  matchActions:
                  - {action: Override, argError: -111}
            """
        let agent = try AgentHarness(policies: [policy])
        XCTAssertEqual(try Self.tiers(agent), ["cgroup/connect4", "cgroup/connect6"])
        XCTAssertEqual(PolicySocketTests.connectTo(port), ECONNREFUSED, "argError becomes the caller's errno")
        // UDP to the same address and port is not a tcp_connect call
        let u = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(u) }
        var addr = PolicySocketTests.loopback(port: port)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(u, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        XCTAssertEqual(rc, 0, "a UDP connect is left alone: \(errno)")
        let events = try agent.waitForEvents("process_kprobe") { !$0.isEmpty }
        let e = try XCTUnwrap(events.first)
        XCTAssertEqual(e.body["function_name"] as? String, "tcp_connect")
        XCTAssertEqual(e.pid, Int(getpid()))
        let s = try XCTUnwrap(e.args.first?["sock_arg"] as? [String: Any])
        XCTAssertEqual(s["dport"] as? Int, Int(port))
        XCTAssertEqual(s["protocol"] as? String, "IPPROTO_TCP")
    }

    /// Tetragon's own pattern (its tcp-connect-only-* examples): Sigkill on tcp_connect. A
    /// cgroup program cannot signal, so where the hook is lowered (the host) the kill is sent
    /// at the connect syscall's exit; on the guests it is a plain fentry/kprobe hook. Either
    /// way the caller dies with SIGKILL and a neighbour port is left alone.
    func testSigkillOnTcpConnectKillsTheCaller() throws {
        try KernelTest.require(.cgroupSockAddr)
        let (lfd, port) = try PolicySocketTests.listener()
        defer { close(lfd) }
        let (lfd2, otherPort) = try PolicySocketTests.listener()
        defer { close(lfd2) }
        let policy = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: kill-on-connect}
            spec:
              kprobes:
              - call: tcp_connect
                syscall: false
                args: [{index: 0, type: sock}]
                selectors:
                - matchArgs: [{index: 0, operator: DPort, values: ["\(port)"]}]
                  matchActions: [{action: Sigkill}]
            """
        let agent = try AgentHarness(policies: [policy])
        let want = FeatureProbe.shared.isSupported(.fentry) || FeatureProbe.shared.isSupported(.kprobe) ? ["fentry", "kprobe"] : ["cgroup/connect4"]
        let tiers = try Self.tiers(agent)
        XCTAssertTrue(tiers.contains { want.contains($0) }, "\(tiers)")
        // the inner bash connects and is killed; the outer one reports how it ended
        let killed = try KernelTest.run("/usr/bin/bash", ["-c", "bash -c 'exec 3<>/dev/tcp/127.0.0.1/\(port); echo ALIVE$((1+1)) >&2'; exit $?"])
        XCTAssertEqual(killed.status, 137, "SIGKILL before the connect returns: \(killed.stderr)")
        XCTAssertFalse(killed.stderr.contains("ALIVE2"), "nothing ran after the connect")  // bash echoes the killed command line, not its output
        let other = try KernelTest.run("/usr/bin/bash", ["-c", "bash -c 'exec 3<>/dev/tcp/127.0.0.1/\(otherPort)'; exit $?"])
        XCTAssertEqual(other.status, 0, other.stderr)
        let events = try agent.waitForEvents("process_kprobe") { !$0.isEmpty }
        XCTAssertEqual(events.first?.body["action"] as? String, "KPROBE_ACTION_SIGKILL")
        XCTAssertEqual(events.count, 1)
    }
}
