import Foundation
import KernelFeatures
import XCTest

// kernel-test-guests: 6.12: the accept hook's fentry/fexit tier; the guests share two emulated cores
/// Accepts seen each way the network sensor can see them (Sensors/AcceptHook.swift), in the
/// running kernel. The handshake way needs only tp_btf, the syscall way only tracepoints, so
/// both run on every kernel in CI; fexit runs where trampolines work (the guests, through
/// NetworkSensorTests' default).
final class AcceptHookTests: XCTestCase {
    /// A TCP server in Python on the address argv[2] ("::" is dual-stack): listens, prints
    /// "PORT ACCEPTOR_PID", accepts one connection, reads, closes. argv[1] "worker": a forked
    /// child accepts (a pre-forking server); "exec": the process execs a new image that keeps
    /// the socket and accepts.
    static let serverScript = """
        import os, socket, sys
        host = sys.argv[2]
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        if host == "::":
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind((host, 0))
        s.listen(8)
        if sys.argv[1] == "exec":
            os.set_inheritable(s.fileno(), True)
            accept = "import os, socket, sys; s = socket.socket(fileno=int(sys.argv[1])); print(s.getsockname()[1], os.getpid(), flush=True); c, _ = s.accept(); c.recv(16); c.close()"
            os.execv(sys.executable, [sys.executable, "-c", accept, str(s.fileno())])
        child = os.fork() if sys.argv[1] == "worker" else 0
        if child:
            print(s.getsockname()[1], child, flush=True)
            os.waitpid(child, 0)
            sys.exit(0)
        if sys.argv[1] != "worker":
            print(s.getsockname()[1], os.getpid(), flush=True)
        c, _ = s.accept()
        c.recv(16)
        c.close()
        """

    struct Server {
        let process: Process
        let port: Int
        /// The process that called listen().
        var listenerPid: Int { Int(process.processIdentifier) }
        /// The process that calls accept().
        let acceptorPid: Int

        init(mode: String = "self", address: String = "127.0.0.1") throws {
            process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = ["-c", AcceptHookTests.serverScript, mode, address]
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            var line = Data()
            while !line.contains(UInt8(ascii: "\n")) {
                let d = out.fileHandleForReading.availableData
                if d.isEmpty { break }
                line += d
            }
            let words = String(decoding: line, as: UTF8.self).split(whereSeparator: \.isWhitespace)
            guard words.count == 2, let port = Int(words[0]), let acceptor = Int(words[1]) else {
                process.terminate()
                throw KernelTest.Stop(reason: "test server did not start: \(String(decoding: line, as: UTF8.self))")
            }
            self.port = port
            acceptorPid = acceptor
        }

        /// A client connects to `address` and sends "hello"; returns once the server has exited.
        func serveOneClient(address: String = "127.0.0.1") throws {
            let client = try KernelTest.run("/usr/bin/bash", ["-c", "exec 3<>/dev/tcp/\(address)/\(port); printf hello >&3; exec 3<&-"])
            XCTAssertEqual(client.status, 0, client.stderr)
            process.waitUntilExit()
        }
    }

    /// The process_accept of a connection to `port`, and the process_close of the accepted end.
    static func acceptAndClose(_ agent: AgentHarness, port: Int) throws -> (accept: [String: Any], close: [String: Any]) {
        func local(_ e: [String: Any]) -> Bool { NetworkSensorTests.sock(e)["sport"] as? Int == port }
        let all = try agent.waitForAll { e in
            e.contains { $0.kind == "process_accept" && local($0) } && e.contains { $0.kind == "process_close" && local($0) }
        }
        return (
            try XCTUnwrap(all.first { $0.kind == "process_accept" && local($0) }, "process_accept on port \(port)"),
            try XCTUnwrap(all.first { $0.kind == "process_close" && local($0) }, "process_close of the accepted end")
        )
    }

    func testHandshakeNamesTheListenerOwnerWithItsExecIdentity() throws {
        try KernelTest.require(.tpBTF)
        let agent = try AgentHarness(extraArguments: ["--accept-hook", "handshake"])
        let server = try Server()
        try server.serveOneClient()
        let (accept, close) = try Self.acceptAndClose(agent, port: server.port)
        let all = try agent.events()
        let exec = try XCTUnwrap(all.first { $0.kind == "process_exec" && $0.pid == server.listenerPid }, "process_exec of the server")
        XCTAssertEqual(accept.pid, server.listenerPid)
        XCTAssertEqual(accept.process["exec_id"] as? String, exec.process["exec_id"] as? String, "joined to the server's exec")
        XCTAssertTrue((accept.process["binary"] as? String ?? "").contains("python3"), "\(accept.process)")
        XCTAssertEqual(NetworkSensorTests.sock(accept)["daddr"] as? String, "127.0.0.1")
        XCTAssertEqual(close.pid, server.listenerPid)
        XCTAssertEqual(NetworkSensorTests.sock(close)["cookie"] as? Int, NetworkSensorTests.sock(accept)["cookie"] as? Int, "one cookie per connection")
        XCTAssertEqual(agent.stop(), 0)
        XCTAssertTrue(agent.stderrText().contains("accept.hook=tp_btf/inet_sock_set_state (listener owner)"), agent.stderrText())
    }

    /// A server that was listening before the agent started: the agent finds it through /proc
    /// (/proc/net/tcp6: a dual-stack wildcard listener, reached over IPv4, so the connection's
    /// IPv4-mapped local address finds the wildcard entry).
    func testHandshakeNamesListenersOlderThanTheAgent() throws {
        try KernelTest.require(.tpBTF)
        let server = try Server(address: "::")
        let agent = try AgentHarness(extraArguments: ["--accept-hook", "handshake"])
        try server.serveOneClient()
        let (accept, _) = try Self.acceptAndClose(agent, port: server.port)
        let seeded = try XCTUnwrap(try agent.events().first { $0.kind == "process_exec" && $0.pid == server.listenerPid }, "the server from /proc")
        XCTAssertEqual(accept.pid, server.listenerPid)
        XCTAssertEqual(accept.process["exec_id"] as? String, seeded.process["exec_id"] as? String)
        XCTAssertEqual(agent.stop(), 0)
        XCTAssertFalse(agent.stderrText().contains("listeners.seeded=0"), agent.stderrText())
    }

    /// A server that listens, then execs a new image that keeps the socket and accepts: named
    /// by the image it runs now (the table entry of the same pid has the same parent).
    func testHandshakeNamesTheListenersCurrentImageAfterExec() throws {
        try KernelTest.require(.tpBTF)
        let agent = try AgentHarness(extraArguments: ["--accept-hook", "handshake"])
        let server = try Server(mode: "exec")
        XCTAssertEqual(server.acceptorPid, server.listenerPid, "exec keeps the pid")
        try server.serveOneClient()
        let (accept, _) = try Self.acceptAndClose(agent, port: server.port)
        let execs = try agent.events().filter { $0.kind == "process_exec" && $0.pid == server.listenerPid }
        XCTAssertEqual(execs.count, 2, "the server and the image it exec'd")
        XCTAssertEqual(accept.process["exec_id"] as? String, execs.last?.process["exec_id"] as? String, "the image that accepts")
        XCTAssertNotEqual(accept.process["exec_id"] as? String, execs.first?.process["exec_id"] as? String)
    }

    /// IPv6: a dual-stack wildcard listener opened after the agent, reached over ::1.
    func testHandshakeNamesIPv6Listeners() throws {
        try KernelTest.require(.tpBTF)
        let agent = try AgentHarness(extraArguments: ["--accept-hook", "handshake"])
        let server = try Server(address: "::")
        try server.serveOneClient(address: "::1")
        let (accept, close) = try Self.acceptAndClose(agent, port: server.port)
        XCTAssertEqual(accept.pid, server.listenerPid)
        XCTAssertEqual(NetworkSensorTests.sock(accept)["family"] as? String, "AF_INET6")
        XCTAssertEqual(NetworkSensorTests.sock(accept)["daddr"] as? String, "::1")
        XCTAssertEqual(close.pid, server.listenerPid)
    }

    /// A pre-forking server: the handshake names the process that listened, the syscall
    /// tracepoints the worker that accepted.
    func testWorkerAcceptNamedByListenerAtHandshakeAndByAcceptorAtSyscall() throws {
        try KernelTest.require(.tpBTF)
        for (hook, expectAcceptor) in [("handshake", false), ("syscalls", true)] {
            let agent = try AgentHarness(extraArguments: ["--accept-hook", hook])
            let server = try Server(mode: "worker")
            XCTAssertNotEqual(server.acceptorPid, server.listenerPid)
            try server.serveOneClient()
            let (accept, close) = try Self.acceptAndClose(agent, port: server.port)
            let expected = expectAcceptor ? server.acceptorPid : server.listenerPid
            XCTAssertEqual(accept.pid, expected, "\(hook): accept named by the \(expectAcceptor ? "worker" : "listener")")
            XCTAssertEqual(close.pid, expected, "\(hook): the close by the same process")
            XCTAssertEqual(agent.stop(), 0)
        }
    }

    /// `--accept-hook fexit` where the kernel cannot: a clear error and exit, nothing left loaded.
    func testForcedFexitRunsWhereTrampolinesWorkAndFailsClearlyElsewhere() throws {
        try KernelTest.require(.tpBTF)
        if FeatureProbe.shared.isSupported(.fexit) {
            let agent = try AgentHarness(extraArguments: ["--accept-hook", "fexit"])
            XCTAssertEqual(agent.stop(), 0)
            XCTAssertTrue(agent.stderrText().contains("accept.hook=fexit/inet_csk_accept"), agent.stderrText())
        } else {
            let agent = try AgentHarness(extraArguments: ["--accept-hook", "fexit"], expectFailure: true)
            agent.process.waitUntilExit()
            XCTAssertNotEqual(agent.process.terminationStatus, 0)
            XCTAssertTrue(agent.stderrText().contains("fexit/inet_csk_accept: this kernel has no usable trampolines"), agent.stderrText())
        }
    }

    /// Listeners are keyed by network namespace: the same port in the host and in a peer
    /// namespace belongs to two different processes.
    func testHandshakeKeysListenersByNetworkNamespace() throws {
        try KernelTest.require(.tpBTF)
        let peer = try NetnsPeer(subnet: 36)
        defer { peer.remove() }
        let agent = try AgentHarness(extraArguments: ["--accept-hook", "handshake"])
        let hostListener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)  // same port, this process, host namespace
        defer { close(hostListener) }
        var any = sockaddr_in(
            sin_family: sa_family_t(AF_INET), sin_port: UInt16(2224).bigEndian, sin_addr: in_addr(s_addr: 0), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
        XCTAssertEqual(
            withUnsafePointer(to: &any) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(hostListener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }, 0)
        XCTAssertEqual(listen(hostListener, 8), 0)
        let nc = try peer.serve(["/bin/busybox", "nc", "-l", "-p", "2224"], readyWhen: "netstat -ltn | grep -q ':2224 '")
        let client = try KernelTest.run("/usr/bin/bash", ["-c", "exec 3<>/dev/tcp/\(peer.peerAddress)/2224"])
        XCTAssertEqual(client.status, 0, client.stderr)
        // the readiness probe's connects (netstat does not connect; nc accepts one client) aside,
        // the one accept on 2224 is in the peer namespace
        let events = try agent.waitForEvents("process_accept") { e in e.contains { NetworkSensorTests.sock($0)["sport"] as? Int == 2224 } }
        let accept = try XCTUnwrap(events.first { NetworkSensorTests.sock($0)["sport"] as? Int == 2224 })
        XCTAssertEqual(accept.pid, Int(nc.processIdentifier), "named by the peer namespace's listener, not this process")
        XCTAssertEqual(NetworkSensorTests.sock(accept)["saddr"] as? String, peer.peerAddress)
    }
}
