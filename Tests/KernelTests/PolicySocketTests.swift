import AgentCore
import BPFKit
import Foundation
import KernelFeatures
import PolicyEngine
import PolicyYAML
import Sensors
import XCTest

/// Socket arguments read in the kernel and filtered there (tcp_connect's struct sock *), and
/// a connect denied in the kernel by BPF-LSM (socket_connect with a sockaddr filter).
// kernel-test-requires: fentry lsm  (read by scripts/test: the class runs only on kernels with all of them)
final class PolicySocketTests: XCTestCase {
    /// 127.0.0.1:port (0: any port).
    static func loopback(port: UInt16) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return addr
    }

    /// A listening TCP socket on 127.0.0.1 (an ephemeral port).
    static func listener() throws -> (fd: Int32, port: UInt16) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = loopback(port: 0)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        listen(fd, 8)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return (fd, UInt16(bigEndian: addr.sin_port))
    }

    /// connect() to 127.0.0.1:port; returns 0 or the errno.
    static func connectTo(_ port: UInt16) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = loopback(port: port)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return rc == 0 ? 0 : errno
    }

    func testTcpConnectSockArgumentFilteredByPortInKernel() throws {
        // fentry where the kernel has it, else kprobe: either tier must read and filter the socket.
        if !FeatureProbe.shared.isSupported(.fentry) { try KernelTest.require(.kprobe) }
        try connectCase()
    }

    private func connectCase() throws {
        try KernelTest.requireRoot()
        let (lfd, port) = try Self.listener()
        defer { close(lfd) }
        let (lfd2, otherPort) = try Self.listener()
        defer { close(lfd2) }
        let policy = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: connect-watch}
            spec:
              kprobes:
              - call: tcp_connect
                syscall: false
                args: [{index: 0, type: sock}]
                selectors:
                - matchArgs:
                  - {index: 0, operator: DAddr, values: ["127.0.0.0/8"]}
                  - {index: 0, operator: DPort, values: ["\(port)"]}
            """
        let loaded = try LoadedPolicy(policy, file: "connect.yaml")
        var socks: [HookArgValue.SocketInfo] = []
        let ring = try loaded.records { r, _ in
            if r.pid == UInt32(getpid()), case .sock(let s) = r.args.first?.value { socks.append(s) }
        }
        XCTAssertEqual(Self.connectTo(port), 0)
        XCTAssertEqual(Self.connectTo(otherPort), 0)
        try KernelTest.poll(ring) { !socks.isEmpty }
        let s = try XCTUnwrap(socks.first, "tcp_connect to port \(port) is reported")
        XCTAssertEqual(s.daddr, "127.0.0.1")
        XCTAssertEqual(s.dport, port)
        XCTAssertEqual(s.family, "AF_INET")
        XCTAssertEqual(s.proto, "IPPROTO_TCP")
        XCTAssertNotEqual(s.sport, 0)
        XCTAssertFalse(socks.contains { $0.dport == otherPort }, "the other port is filtered in the kernel")
    }

    /// A socket made by one process and connected by its child: with Tetragon's socket
    /// tracking (sk_alloc's returnArgAction TrackSock), tcp_connect's event names the
    /// socket's owner, not the child that called connect; __sk_free's UntrackSock forgets it.
    func testTrackSockNamesTheOwnerAndUntrackSockForgetsIt() throws {
        try KernelTest.requireRoot()
        try KernelTest.require(.fexit)  // sk_alloc's return value; fentry for the other two comes with it
        // A listener that never accepts: the kernel completes the handshake and acknowledges the
        // client's FIN, so the closed client socket is freed from the softirq that receives the
        // ACK (a refused connect would not do: its disconnect clears the port __sk_free filters on).
        let (lfd, port) = try Self.listener()
        defer { close(lfd) }
        let python = URL(fileURLWithPath: "/usr/bin/python3").resolvingSymlinksInPath().path
        let policy = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: sock-tracking}
            spec:
              kprobes:
              - call: sk_alloc
                syscall: false
                return: true
                args: [{index: 1, type: int, label: Family}]
                returnArg: {index: 0, type: sock}
                returnArgAction: TrackSock
                selectors:
                - matchArgs: [{index: 1, operator: Equal, values: ["2"]}]
                  matchBinaries: [{operator: In, values: ["\(python)"]}]
                  matchActions: [{action: NoPost}]
              - call: tcp_connect
                syscall: false
                args: [{index: 0, type: sock}]
                selectors:
                - matchArgs: [{index: 0, operator: DPort, values: ["\(port)"]}]
              - call: __sk_free
                syscall: false
                args: [{index: 0, type: sock}]
                selectors:
                - matchArgs: [{index: 0, operator: DPort, values: ["\(port)"]}]
                  matchActions: [{action: UntrackSock, argSock: 0}]
              - call: tcp_set_state
                syscall: false
                args: [{index: 0, type: sock}, {index: 1, type: int}]
                selectors:
                - matchArgs:
                  - {index: 0, operator: DPort, values: ["\(port)"]}
                  - {index: 0, operator: State, values: ["TCP_SYN_SENT"]}
            """
        // The parent makes the socket, its child connects it; the parent closes it after 2 s.
        let script = """
            import os, socket, sys, time
            s = socket.socket()
            child = os.fork()
            if child == 0:
                s.connect(("127.0.0.1", \(port)))
                os._exit(0)
            os.waitpid(child, 0)
            print(child, flush=True)
            time.sleep(2)
            s.close()
            """
        let loaded = try LoadedPolicy(policy, file: "sock-tracking.yaml")
        let manager = loaded.manager
        var connects: [(pid: UInt32, action: String)] = []
        var frees: [(pid: UInt32, action: String)] = []
        var leftSynSent: [(pid: UInt32, newState: HookArgValue?)] = []
        let ring = try loaded.records { r, plan in
            if plan.plan.functionName == "tcp_connect" { connects.append((r.pid, r.action)) }
            if plan.plan.functionName == "__sk_free" { frees.append((r.pid, r.action)) }
            if plan.plan.functionName == "tcp_set_state" { leftSynSent.append((r.pid, r.args.last?.value)) }
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", script]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let owner = UInt32(p.processIdentifier)
        try KernelTest.poll(ring) { !connects.isEmpty }
        let ownedWhileOpen = manager.shared.trackedSockets.count()
        let childLine = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let child = try XCTUnwrap(UInt32(childLine.trimmingCharacters(in: .whitespacesAndNewlines)), "the script prints its child's pid")
        try KernelTest.poll(ring) { !frees.isEmpty }

        let connect = try XCTUnwrap(connects.first, "tcp_connect to port \(port) is reported")
        XCTAssertEqual(connect.pid, owner, "the event names the socket's owner (the parent \(owner)), not the child \(child) that connected")
        XCTAssertEqual(ownedWhileOpen, 1, "sk_alloc's TrackSock tracked the one socket the script made")
        let free = try XCTUnwrap(frees.first, "__sk_free of the socket is reported")
        XCTAssertEqual(free.action, "KPROBE_ACTION_UNTRACKSOCK")
        XCTAssertEqual(free.pid, owner, "the owner is read before this call's UntrackSock removes it")
        XCTAssertEqual(manager.shared.trackedSockets.count(), 0, "UntrackSock removed the socket from the tracked sockets")
        // State filters the socket's state as the call finds it: SYN_SENT is left once, for ESTABLISHED (1).
        XCTAssertFalse(leftSynSent.isEmpty, "tcp_set_state on the SYN_SENT socket is reported")
        for e in leftSynSent {
            XCTAssertEqual(e.newState, .int(1), "only the call that moves the socket out of SYN_SENT matches (not CLOSE -> SYN_SENT, nor the later ones)")
            XCTAssertEqual(e.pid, owner, "the socket's owner, whoever ran the state change")
        }
    }

    func testLSMSocketConnectDeniesOnePortOnly() throws {
        try KernelTest.requireActiveBPFLSM()
        let (lfd, port) = try Self.listener()
        defer { close(lfd) }
        let (lfd2, otherPort) = try Self.listener()
        defer { close(lfd2) }
        let policy = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: no-connect}
            spec:
              lsmhooks:
              - hook: socket_connect
                args: [{index: 1, type: sockaddr}]
                selectors:
                - matchArgs:
                  - {index: 1, operator: SPort, values: ["\(port)"]}   # Tetragon: a sockaddr is tested with the S* operators
                  matchActions:
                  - {action: Override, argError: -1}
            """
        let agent = try AgentHarness(policies: [policy])
        XCTAssertEqual(Self.connectTo(port), EPERM, "connect to the denied port fails in the kernel")
        XCTAssertEqual(Self.connectTo(otherPort), 0, "other ports connect")
        let events = try agent.waitForEvents("process_lsm") { !$0.isEmpty }
        let e = try XCTUnwrap(events.first)
        let sa = try XCTUnwrap(e.args.first?["sockaddr_arg"] as? [String: Any])
        XCTAssertEqual(sa["addr"] as? String, "127.0.0.1")
        XCTAssertEqual(sa["port"] as? Int, Int(port))
        XCTAssertEqual(e.body["action"] as? String, "KPROBE_ACTION_OVERRIDE")
    }
}
