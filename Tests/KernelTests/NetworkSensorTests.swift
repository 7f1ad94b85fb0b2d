import Foundation
import KernelFeatures
import XCTest

// kernel-test-guests: 6.1: the network sensor on the oldest kernel (6.12 has the host's hooks); the guests share two emulated cores
/// The network sensor in the running kernel (all three: it needs only tp_btf and cgroup
/// programs): connect / accept / close / UDP events with the process
/// that owns the socket, correlated with process_exec by exec_id.
final class NetworkSensorTests: XCTestCase {
    static func sock(_ e: [String: Any]) -> [String: Any] { e.body["sock"] as? [String: Any] ?? [:] }

    func testTcpConnectAcceptCloseCarryTheirProcesses() throws {
        try KernelTest.require(.tpBTF)
        try KernelTest.require(.cgroupSockAddr)
        let (lfd, port) = try PolicySocketTests.listener()
        defer { close(lfd) }
        let agent = try AgentHarness()
        // accepts at inet_csk_accept's return where trampolines work (the guests), else at the
        // handshake, named by the listener's owner (the host; this listener is older than the
        // agent, so the owner comes from the /proc seed): this test runs both ways in CI
        let acceptHook = FeatureProbe.shared.isSupported(.fexit) ? "fexit/inet_csk_accept" : "tp_btf/inet_sock_set_state (listener owner)"
        // a child process connects, writes 6 bytes, closes; this process accepts and reads
        let client = Process()
        client.executableURL = URL(fileURLWithPath: "/usr/bin/bash")
        client.arguments = ["-c", "exec 3<>/dev/tcp/127.0.0.1/\(port); printf hello >&3; exec 3<&-"]
        try client.run()
        let conn = accept(lfd, nil, nil)
        XCTAssertGreaterThanOrEqual(conn, 0)
        var buf = [UInt8](repeating: 0, count: 16)
        _ = read(conn, &buf, 16)
        close(conn)
        client.waitUntilExit()
        let child = Int(client.processIdentifier)

        let events = try agent.waitForEvents("process_close") { e in e.filter { $0.pid == child }.count >= 1 && e.contains { $0.pid == Int(getpid()) } }
        let all = try agent.events()
        let exec = try XCTUnwrap(all.first { $0.kind == "process_exec" && $0.pid == child }, "process_exec of the client")
        let execID = try XCTUnwrap(exec.process["exec_id"] as? String)

        let connect = try XCTUnwrap(all.first { $0.kind == "process_connect" && $0.pid == child }, "process_connect of the client")
        XCTAssertEqual(connect.process["exec_id"] as? String, execID, "connect correlates with process_exec by exec_id")
        XCTAssertEqual(connect.process["binary"] as? String, "/usr/bin/bash")
        XCTAssertEqual(connect.body["result"] as? String, "established")
        let cs = Self.sock(connect)
        XCTAssertEqual(cs["daddr"] as? String, "127.0.0.1")
        XCTAssertEqual(cs["dport"] as? Int, Int(port))
        XCTAssertEqual(cs["protocol"] as? String, "IPPROTO_TCP")
        let clientPort = try XCTUnwrap(cs["sport"] as? Int)
        XCTAssertNotEqual(clientPort, 0)
        XCTAssertNotNil(connect.parent["exec_id"], "the parent comes from the process cache")

        let accepted = try XCTUnwrap(all.first { $0.kind == "process_accept" && $0.pid == Int(getpid()) }, "process_accept of the server (this test)")
        XCTAssertEqual(Self.sock(accepted)["sport"] as? Int, Int(port))
        XCTAssertEqual(Self.sock(accepted)["dport"] as? Int, clientPort)

        let clientClose = try XCTUnwrap(events.first { $0.pid == child })
        XCTAssertEqual(clientClose.process["exec_id"] as? String, execID)
        XCTAssertEqual(Self.sock(clientClose)["cookie"] as? Int, cs["cookie"] as? Int, "one cookie per connection")
        XCTAssertEqual(Self.sock(clientClose)["sport"] as? Int, clientPort)
        let stats = try XCTUnwrap(clientClose.body["stats"] as? [String: Any])
        XCTAssertGreaterThanOrEqual(stats["bytes_sent"] as? Int ?? 0, 5, "printf hello: 5 bytes (+ FIN)")
        XCTAssertGreaterThan(stats["duration_ns"] as? Int ?? 0, 0)
        XCTAssertEqual(agent.stop(), 0)
        XCTAssertTrue(agent.stderrText().contains("accept.hook=\(acceptHook)"), "accepts seen by \(acceptHook): \(agent.stderrText())")
    }

    /// A connect to a "remote host" (a network namespace over veth): refused ports report a
    /// failed connect, listening ones an established one.
    func testConnectToPeerNamespaceReportsOutcome() throws {
        try KernelTest.require(.tpBTF)
        try KernelTest.require(.cgroupSockAddr)
        let peer = try NetnsPeer(subnet: 31)
        defer { peer.remove() }
        try peer.listen(port: 2222)
        let agent = try AgentHarness()
        let ok = try KernelTest.run("/usr/bin/bash", ["-c", "exec 3<>/dev/tcp/\(peer.peerAddress)/2222"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        let refused = try KernelTest.run("/usr/bin/bash", ["-c", "exec 3<>/dev/tcp/\(peer.peerAddress)/2223"])
        XCTAssertNotEqual(refused.status, 0)
        let events = try agent.waitForEvents("process_connect") { e in
            e.contains { $0.pid == Int(ok.pid) } && e.contains { $0.pid == Int(refused.pid) }
        }
        let good = try XCTUnwrap(events.first { $0.pid == Int(ok.pid) })
        XCTAssertEqual(good.body["result"] as? String, "established")
        XCTAssertEqual(Self.sock(good)["daddr"] as? String, peer.peerAddress)
        XCTAssertEqual(Self.sock(good)["saddr"] as? String, peer.hostAddress)
        let bad = try XCTUnwrap(events.first { $0.pid == Int(refused.pid) })
        XCTAssertEqual(bad.body["result"] as? String, "failed")
        XCTAssertEqual(Self.sock(bad)["dport"] as? Int, 2223)
    }

    func testUdpReportsEachPeerOnce() throws {
        try KernelTest.require(.tpBTF)
        try KernelTest.require(.cgroupSockAddr)
        let agent = try AgentHarness()
        let u = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(u) }
        for port: UInt16 in [39001, 39001, 39001, 39002] {
            var addr = PolicySocketTests.loopback(port: port)
            let n = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(u, "q", 1, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            XCTAssertEqual(n, 1)
        }
        // a datagram to a third peer, after the others: the network ring is ordered, so once its
        // event is in, any event the repeats to 39001 would have raised is in too
        var last = PolicySocketTests.loopback(port: 39003)
        _ = withUnsafePointer(to: &last) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(u, "q", 1, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        let events = try agent.waitForEvents("process_connect") { e in e.contains { $0.pid == Int(getpid()) && Self.sock($0)["dport"] as? Int == 39003 } }
        let mine = events.filter { $0.pid == Int(getpid()) && Self.sock($0)["dport"] as? Int != 39003 }
        XCTAssertEqual(mine.map { Self.sock($0)["dport"] as? Int }, [39001, 39002], "one event per peer: \(events.count)")
        XCTAssertTrue(mine.allSatisfy { Self.sock($0)["protocol"] as? String == "IPPROTO_UDP" && $0.body["result"] as? String == "first_datagram" })
    }

    func testSensorCanBeSwitchedOff() throws {
        try KernelTest.requireRoot()
        let (lfd, port) = try PolicySocketTests.listener()
        defer { close(lfd) }
        let agent = try AgentHarness(extraArguments: ["--disable-network-sensor"])
        let r = try KernelTest.run("/usr/bin/bash", ["-c", "exec 3<>/dev/tcp/127.0.0.1/\(port)"])
        XCTAssertEqual(r.status, 0)
        _ = try agent.waitForEvents("process_exit") { e in e.contains { $0.pid == Int(r.pid) } }
        XCTAssertFalse(try agent.events().contains { $0.kind.hasPrefix("process_connect") || $0.kind == "process_close" })
    }
}

/// DNS seen in the kernel (cgroup_skb on port 53) and parsed by the agent, joined to the
/// process that asked by socket cookie. The "resolver" is a tiny server in a peer namespace.
final class DNSSensorTests: XCTestCase {
    /// Answers every A query with 10.1.2.3 (TTL 60).
    static let server = """
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", 53))
        while True:
            q, a = s.recvfrom(512)
            e = 12
            while q[e] != 0:
                e += q[e] + 1
            e += 5
            s.sendto(q[:2] + b"\\x81\\x80" + q[4:6] + b"\\x00\\x01\\x00\\x00\\x00\\x00" + q[12:e]
                     + b"\\xc0\\x0c\\x00\\x01\\x00\\x01\\x00\\x00\\x00\\x3c\\x00\\x04" + bytes([10, 1, 2, 3]), a)
        """

    /// Sends one A query for `name` to `server`:53 and waits for the answer.
    static func client(name: String, server: String) -> String {
        """
        import socket, struct
        q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
        q += b"".join(bytes([len(l)]) + l.encode() for l in "\(name)".split(".")) + b"\\x00" + struct.pack(">HH", 1, 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(10)
        s.sendto(q, ("\(server)", 53))
        print(len(s.recvfrom(512)[0]))
        """
    }

    func testQueryAndAnswerCarryTheAskingProcess() throws {
        try KernelTest.require(.cgroupSKB)
        try KernelTest.require(.cgroupSockAddr)
        let peer = try NetnsPeer(subnet: 33)
        defer { peer.remove() }
        try peer.serve(["/usr/bin/python3", "-c", Self.server], readyWhen: "netstat -lun | grep -q ':53 '")
        let agent = try AgentHarness()
        let r = try KernelTest.run("/usr/bin/python3", ["-c", Self.client(name: "c2.attacker.example", server: peer.peerAddress)])
        XCTAssertEqual(r.status, 0, r.stderr)
        let pid = Int(r.pid)
        let dns = try agent.waitForEvents("process_dns") { e in e.filter { $0.pid == pid }.count >= 2 }.filter { $0.pid == pid }
        let query = try XCTUnwrap(dns.first { ($0.body["dns"] as? [String: Any])?["response"] as? Bool == false }, "the query")
        let q = try XCTUnwrap(query.body["dns"] as? [String: Any])
        XCTAssertEqual(q["query"] as? String, "c2.attacker.example")
        XCTAssertEqual(q["qtype"] as? String, "A")
        XCTAssertEqual(q["direction"] as? String, "egress")
        XCTAssertEqual(query.process["binary"] as? String, "/usr/bin/python3.11")
        XCTAssertEqual((query.body["sock"] as? [String: Any])?["daddr"] as? String, peer.peerAddress)
        let answer = try XCTUnwrap(dns.first { ($0.body["dns"] as? [String: Any])?["response"] as? Bool == true }, "the response")
        let a = try XCTUnwrap(answer.body["dns"] as? [String: Any])
        XCTAssertEqual(a["rcode"] as? String, "NOERROR")
        XCTAssertEqual(a["direction"] as? String, "ingress")
        let answers = try XCTUnwrap(a["answers"] as? [[String: Any]])
        XCTAssertEqual(answers.first?["data"] as? String, "10.1.2.3")
        XCTAssertEqual(answers.first?["name"] as? String, "c2.attacker.example")
        XCTAssertEqual(answers.first?["ttl"] as? Int, 60)
        XCTAssertEqual(query.process["exec_id"] as? String, answer.process["exec_id"] as? String, "both joined to the asking process")
    }
}

/// Scans counted in the kernel: one process_scan per window for a process that tries many
/// distinct destinations; a few connects raise nothing.
final class ScanDetectionTests: XCTestCase {
    static func probe(_ host: String, ports: ClosedRange<Int>) -> String {
        "import socket\nfor p in range(\(ports.lowerBound), \(ports.upperBound + 1)):\n    s = socket.socket(); s.settimeout(2)\n    try: s.connect((\"\(host)\", p))\n    except OSError: pass\n    s.close()\n"
    }

    func testPortScanRaisesOneEventAndAFewConnectsNone() throws {
        try KernelTest.require(.tpBTF)
        let peer = try NetnsPeer(subnet: 34)
        defer { peer.remove() }
        let agent = try AgentHarness(extraArguments: ["--scan-threshold", "15", "--scan-window", "10"])
        let scan = try KernelTest.run("/usr/bin/python3", ["-c", Self.probe(peer.peerAddress, ports: 1000...1040)])
        XCTAssertEqual(scan.status, 0, scan.stderr)
        let few = try KernelTest.run("/usr/bin/python3", ["-c", Self.probe(peer.peerAddress, ports: 2000...2004)])
        XCTAssertEqual(few.status, 0, few.stderr)
        let events = try agent.waitForEvents("process_scan") { e in e.contains { $0.pid == Int(scan.pid) } }
        let mine = events.filter { $0.pid == Int(scan.pid) }
        XCTAssertEqual(mine.count, 1, "one report per window, not one per probe")
        let s = try XCTUnwrap(mine.first?.body["scan"] as? [String: Any])
        XCTAssertEqual(s["distinct_destinations"] as? Int, 15)
        XCTAssertEqual(s["window_ms"] as? Int, 10_000)
        XCTAssertEqual((mine.first?.body["sock"] as? [String: Any])?["daddr"] as? String, peer.peerAddress)
        XCTAssertFalse(try agent.events().contains { $0.kind == "process_scan" && $0.pid == Int(few.pid) }, "five connects are not a scan")
    }
}
