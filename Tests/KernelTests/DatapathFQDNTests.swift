import Foundation
import XCTest

// kernel-test-host-only: the datapath's DNS-aware rules, the same programs on every kernel; DatapathTests shows 6.1's legacy tc attach (the guests share two emulated cores)
/// toFQDNs on a real kernel: DNS servers and destinations are the test's own hosts in network
/// namespaces. An endpoint may connect to an address only while a DNS answer for an allowed name
/// gave it that address, from a DNS server a DNS-visible rule (`rules.dns`) allows; the answer
/// is learned in the kernel before the endpoint reads it, so the first SYN already passes.
final class DatapathFQDNTests: XCTestCase {
    /// A DNS server on UDP and TCP: answers A questions from a zone (name -> [[type, data,
    /// ttl], ...]); CNAME data is written uncompressed and the records after it are owned by
    /// the target, as recursive resolvers answer. Anything else: NXDOMAIN. Over TCP, names
    /// whose first label is "split" get the length and the message in two segments.
    static let responder = #"""
        import json, socket, struct, sys, threading, time
        addr, zone = sys.argv[1], json.loads(sys.argv[2])
        def labels(name):
            return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
        def answer(q):
            qid, flags, qd = struct.unpack("!HHH", q[:6])
            pos, parts = 12, []
            while q[pos]:
                parts.append(q[pos + 1:pos + 1 + q[pos]].decode()); pos += 1 + q[pos]
            question = q[12:pos + 5]
            name = ".".join(parts).lower()
            records = zone.get(name)
            if records is None:
                return name, struct.pack("!HHHHHH", qid, 0x8183, 1, 0, 0, 0) + question
            body, owner = b"", b"\xc0\x0c"
            for rtype, data, ttl in records:
                if rtype == "CNAME":
                    rd = labels(data)
                    body += owner + struct.pack("!HHIH", 5, 1, ttl, len(rd)) + rd
                    owner = labels(data)
                else:
                    body += owner + struct.pack("!HHIH", 1, 1, ttl, 4) + socket.inet_aton(data)
            return name, struct.pack("!HHHHHH", qid, 0x8180, 1, len(records), 0, 0) + question + body
        def tcp():
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            t.bind((addr, 53)); t.listen(8)
            while True:
                c, _ = t.accept()
                c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                try:
                    n = struct.unpack("!H", c.recv(2))[0]
                    q = b""
                    while len(q) < n:
                        q += c.recv(n - len(q))
                    name, m = answer(q)
                    if name.startswith("split."):
                        c.sendall(struct.pack("!H", len(m))); time.sleep(0.05); c.sendall(m)
                    else:
                        c.sendall(struct.pack("!H", len(m)) + m)
                    time.sleep(0.2)
                finally:
                    c.close()
        threading.Thread(target=tcp, daemon=True).start()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((addr, 53))
        while True:
            q, peer = s.recvfrom(512)
            s.sendto(answer(q)[1], peer)
        """#

    /// An A question for `name`, recursion desired.
    static func query(_ name: String) -> [UInt8] {
        var q: [UInt8] = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        for label in name.split(separator: ".") { q += [UInt8(label.utf8.count)] + Array(label.utf8) }
        return q + [0, 0, 1, 0, 1]
    }

    /// Whether endpoint `client` of `f` connects to `address`:9000 within half a second.
    static func reaches(_ f: EndpointFixture, _ address: String) throws -> Bool {
        guard let fd = try f.connect(from: "client", to: address, port: 9000, timeout: 0.5) else { return false }
        close(fd)
        return true
    }

    /// The A records of an answer to `name` from `server`, asked from inside the endpoint; nil: no answer.
    static func resolve(_ f: EndpointFixture, from endpoint: String, server: String, name: String) throws -> [String]? {
        try f.inside(endpoint) {
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            defer { close(fd) }
            var tv = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            let q = Self.query(name)
            var sa = Sockets.sockaddr(server, 53)
            let sent = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, q, q.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard sent == q.count else { return nil }
            var buf = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &buf, buf.count, 0)
            guard n >= 12 else { return nil }
            return Self.addresses(in: Array(buf[0..<n]))
        }
    }

    /// The same over TCP (the 2-byte length, then the message, each way).
    static func resolveTCP(_ f: EndpointFixture, from endpoint: String, server: String, name: String) throws -> [String]? {
        try f.inside(endpoint) {
            guard let fd = Sockets.connect(address: server, port: 53, timeout: 2) else { return nil }
            defer { close(fd) }
            var tv = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            let q = Self.query(name)
            let framed = [UInt8(q.count >> 8), UInt8(q.count & 0xff)] + q
            guard send(fd, framed, framed.count, 0) == framed.count else { return nil }
            var got: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 4096)
            while got.count < 2 || got.count < 2 + (Int(got[0]) << 8 | Int(got[1])) {
                let n = recv(fd, &buf, buf.count, 0)
                if n <= 0 { return nil }
                got += buf[0..<n]
            }
            return Self.addresses(in: Array(got[2...]))
        }
    }

    /// The A record addresses of a DNS response.
    static func addresses(in m: [UInt8]) -> [String] {
        func u16(_ i: Int) -> Int { i + 1 < m.count ? Int(m[i]) << 8 | Int(m[i + 1]) : 0 }
        func skipName(_ i: Int) -> Int {
            var i = i
            while i < m.count {
                if m[i] & 0xc0 == 0xc0 { return i + 2 }
                if m[i] == 0 { return i + 1 }
                i += Int(m[i]) + 1
            }
            return i
        }
        var pos = skipName(12) + 4
        var out: [String] = []
        for _ in 0..<u16(6) {
            pos = skipName(pos)
            guard pos + 10 <= m.count else { break }
            let type = u16(pos)
            let len = u16(pos + 8)
            pos += 10
            if type == 1 && len == 4 && pos + 4 <= m.count { out.append(m[pos..<pos + 4].map(String.init).joined(separator: ".")) }
            pos += len
        }
        return out
    }

    /// A host in its own namespace, routed through this host (an "external" address).
    static func outsideHost(_ subnet: Int) throws -> NetnsPeer {
        let p = try NetnsPeer(subnet: subnet)
        try NetnsPeer.ip(["-n", p.name, "route", "add", "default", "via", p.hostAddress])
        return p
    }

    static func startResponder(on peer: NetnsPeer, zone: [String: [[Any]]], directory: String) throws {
        let script = directory + "/dns-responder.py"
        try responder.write(toFile: script, atomically: true, encoding: .utf8)
        let json = String(decoding: try JSONSerialization.data(withJSONObject: zone), as: UTF8.self)
        try peer.serve(["/usr/bin/python3", script, peer.peerAddress, json], readyWhen: "netstat -lun | grep -q '\(peer.peerAddress):53 '")
    }

    func testOnlyAddressesAnAllowedNameResolvedToConnectUntilTheAnswerExpires() throws {
        let f = try EndpointFixture([("client", ["app": "client"])])
        defer { f.remove() }
        // 45: the DNS server a DNS-visible rule allows; 49: a DNS server allowed without one;
        // 46, 47, 48: destinations (48 is what no allowed name resolves to)
        var peers: [NetnsPeer] = []
        defer { for p in peers { p.remove() } }
        for subnet in [45, 46, 47, 48, 49] { peers.append(try Self.outsideHost(subnet)) }
        let (dns, api, svc, other, rogueDNS) = (peers[0], peers[1], peers[2], peers[3], peers[4])
        var listeners: [Int32] = []
        defer { for l in listeners { close(l) } }
        for p in [api, svc, other] {
            listeners.append(try EndpointFixture.inside(netns: p.name) { try Sockets.listen(address: "0.0.0.0", port: 9000) })
        }
        try Self.startResponder(
            on: dns,
            zone: [
                "api.fqdn.test": [["A", api.peerAddress, 2]],
                "a.svc.fqdn.test": [["A", svc.peerAddress, 300]],
                "a.b.svc.fqdn.test": [["A", other.peerAddress, 300]],
                "svc.fqdn.test": [["A", other.peerAddress, 300]],
                "alias.svc.fqdn.test": [["CNAME", "edge.cdn.elsewhere.test", 300], ["A", svc.peerAddress, 300]],
                "unlisted.fqdn.test": [["A", other.peerAddress, 300]],
            ], directory: f.directory)
        try Self.startResponder(on: rogueDNS, zone: ["api.fqdn.test": [["A", other.peerAddress, 300]]], directory: f.directory)

        let agent = try f.startAgent(
            policies: [
                "fqdn.yaml": """
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: client-fqdn}
                spec:
                  endpointSelector: {matchLabels: {app: client}}
                  egress:
                  - toCIDR: [\(dns.peerAddress)/32]
                    toPorts:
                    - ports: [{port: "53", protocol: UDP}]
                      rules: {dns: [{matchPattern: "*"}]}
                  - toCIDR: [\(rogueDNS.peerAddress)/32]
                    toPorts: [{ports: [{port: "53", protocol: UDP}]}]
                  - toFQDNs: [{matchName: API.fqdn.test.}, {matchPattern: "*.svc.fqdn.test"}]
                    toPorts: [{ports: [{port: "9000", protocol: TCP}]}]
                """
            ], extraArguments: ["--fqdn-min-ttl", "0"])

        func reaches(_ addr: String) throws -> Bool { try Self.reaches(f, addr) }
        // nothing resolved yet: the destinations are plain world addresses, dropped
        XCTAssertFalse(try reaches(api.peerAddress), "an address no allowed name resolved to is dropped")

        // the answer wins the race: the first SYN right after it passes (a retransmit takes 1 s)
        XCTAssertEqual(try Self.resolve(f, from: "client", server: dns.peerAddress, name: "api.fqdn.test"), [api.peerAddress])
        let kept = try XCTUnwrap(try f.connect(from: "client", to: api.peerAddress, port: 9000, timeout: 0.5), "allowed right after the answer")
        defer { close(kept) }
        let answeredAt = Date()
        let server = try XCTUnwrap(Sockets.accept(listeners[0], timeout: 2))
        defer { close(server) }

        // one label level, as Cilium's "*.": a.svc yes; a.b.svc and svc itself no
        XCTAssertEqual(try Self.resolve(f, from: "client", server: dns.peerAddress, name: "a.svc.fqdn.test"), [svc.peerAddress])
        XCTAssertTrue(try reaches(svc.peerAddress), "*.svc.fqdn.test matches a.svc.fqdn.test")
        XCTAssertEqual(try Self.resolve(f, from: "client", server: dns.peerAddress, name: "a.b.svc.fqdn.test"), [other.peerAddress])
        XCTAssertFalse(try reaches(other.peerAddress), "*.svc.fqdn.test does not match two levels down")
        XCTAssertEqual(try Self.resolve(f, from: "client", server: dns.peerAddress, name: "svc.fqdn.test"), [other.peerAddress])
        XCTAssertFalse(try reaches(other.peerAddress), "*.svc.fqdn.test does not match svc.fqdn.test itself")
        XCTAssertEqual(try Self.resolve(f, from: "client", server: dns.peerAddress, name: "unlisted.fqdn.test"), [other.peerAddress])
        XCTAssertFalse(try reaches(other.peerAddress), "a name no selector names allows nothing")
        // a CNAME chain: the addresses count for the name asked
        XCTAssertEqual(try Self.resolve(f, from: "client", server: dns.peerAddress, name: "alias.svc.fqdn.test"), [svc.peerAddress])

        // answers from a DNS server without DNS visibility, and unsolicited ones, teach nothing
        XCTAssertEqual(try Self.resolve(f, from: "client", server: rogueDNS.peerAddress, name: "api.fqdn.test"), [other.peerAddress])
        XCTAssertFalse(try reaches(other.peerAddress), "an answer from a server no DNS-visible rule allows is not learned")
        try EndpointFixture.inside(netns: api.name) {
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            defer { close(fd) }
            var me = Sockets.sockaddr("0.0.0.0", 53)
            _ = withUnsafePointer(to: &me) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            var m: [UInt8] = [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]
            for label in ["api", "fqdn", "test"] { m += [UInt8(label.utf8.count)] + Array(label.utf8) }
            m += [0, 0, 1, 0, 1, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4] + other.peerAddress.split(separator: ".").map { UInt8($0)! }
            var to = Sockets.sockaddr(f.address("client"), 40000)
            for _ in 0..<3 {
                _ = withUnsafePointer(to: &to) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, m, m.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            }
        }
        XCTAssertFalse(try reaches(other.peerAddress), "an unsolicited answer from port 53 is not learned")

        // the flow names the name it was allowed by, and the rule
        let flows = try agent.waitForAll { all in
            all.contains { e in
                guard let fl = e["flow"] as? [String: Any] else { return false }
                return (fl["IP"] as? [String: Any])?["destination"] as? String == api.peerAddress && fl["verdict"] as? String == "FORWARDED"
            }
        }.compactMap { $0["flow"] as? [String: Any] }
        let allowed = try XCTUnwrap(
            flows.first { ($0["IP"] as? [String: Any])?["destination"] as? String == api.peerAddress && $0["verdict"] as? String == "FORWARDED" })
        XCTAssertEqual(allowed["destination_names"] as? [String], ["api.fqdn.test"])
        XCTAssertEqual(allowed["egress_allowed_by"] as? [String], ["default/client-fqdn spec.egress[2]"])

        // the answer's TTL (2 s; --fqdn-min-ttl 0) ends the permission for new connections;
        // the connection made under it carries on, also past a policy change
        Thread.sleep(forTimeInterval: max(0, 2.5 - Date().timeIntervalSince(answeredAt)))
        XCTAssertFalse(try reaches(api.peerAddress), "the address is forgotten after the answer's TTL")
        let before = try XCTUnwrap(f.waitForRevision { _ in true }["revision"] as? Int)
        try f.write(policy: "unrelated.yaml", DatapathTests.appPolicies)
        try f.waitForRevision { ($0["revision"] as? Int ?? 0) > before }
        XCTAssertTrue(Sockets.exchange("still", from: kept, to: server, timeout: 2), "the connection made while allowed keeps going")
        XCTAssertTrue(Sockets.exchange("here", from: server, to: kept, timeout: 2))
        // asked again: allowed again
        XCTAssertEqual(try Self.resolve(f, from: "client", server: dns.peerAddress, name: "api.fqdn.test"), [api.peerAddress])
        XCTAssertTrue(try reaches(api.peerAddress), "a fresh answer allows it again")

        // suggest from this history: the destination by name (with DNS visibility), never its address
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vigil").path
        let suggested = try KernelTest.run(exe, ["netpolicy", "suggest", "--file", agent.exportPath])
        XCTAssertTrue(
            suggested.stdout.contains("toFQDNs: [") && suggested.stdout.contains("{matchName: \"api.fqdn.test\"}"), suggested.stdout + suggested.stderr)
        XCTAssertTrue(suggested.stdout.contains("rules: {dns: [{matchPattern: \"*\"}]}"), suggested.stdout)
        XCTAssertFalse(suggested.stdout.contains("\(api.peerAddress)/32"), suggested.stdout)
    }

    /// Answers over TCP (a truncated UDP answer is asked again over TCP) and answers longer
    /// than classic DNS's 512 bytes are learned too: the same name resolved that way allows
    /// its address, and before it is resolved the address is dropped.
    func testAnswersOverTCPAndPast512BytesAreLearned() throws {
        let f = try EndpointFixture([("client", ["app": "client"])])
        defer { f.remove() }
        // 55: the DNS server; 56, 57, 58: what tcp., split. and long. resolve to
        var peers: [NetnsPeer] = []
        defer { for p in peers { p.remove() } }
        for subnet in [55, 56, 57, 58] { peers.append(try Self.outsideHost(subnet)) }
        let (dns, viaTCP, viaSplit, viaLong) = (peers[0], peers[1], peers[2], peers[3])
        var listeners: [Int32] = []
        defer { for l in listeners { close(l) } }
        for p in [viaTCP, viaSplit, viaLong] {
            listeners.append(try EndpointFixture.inside(netns: p.name) { try Sockets.listen(address: "0.0.0.0", port: 9000) })
        }
        // long.: three uncompressed CNAMEs of ~190 bytes each put its A record past byte 512
        let hops = (1...3).map { i in (1...3).map { _ in String(repeating: "c\(i)", count: 30) }.joined(separator: ".") + ".cdn.test" }
        try Self.startResponder(
            on: dns,
            zone: [
                "tcp.fqdn.test": [["A", viaTCP.peerAddress, 300]],
                "split.fqdn.test": [["A", viaSplit.peerAddress, 300]],
                "long.fqdn.test": hops.map { ["CNAME", $0, 300] as [Any] } + [["A", viaLong.peerAddress, 300]],
            ], directory: f.directory)
        _ = try f.startAgent(
            policies: [
                "fqdn.yaml": """
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: client-fqdn-tcp}
                spec:
                  endpointSelector: {matchLabels: {app: client}}
                  egress:
                  - toCIDR: [\(dns.peerAddress)/32]
                    toPorts:
                    - ports: [{port: "53", protocol: ANY}]
                      rules: {dns: [{matchPattern: "*"}]}
                  - toFQDNs: [{matchPattern: "*.fqdn.test"}]
                    toPorts: [{ports: [{port: "9000", protocol: TCP}]}]
                """
            ], extraArguments: ["--fqdn-min-ttl", "0"])
        func reaches(_ addr: String) throws -> Bool { try Self.reaches(f, addr) }
        for p in [viaTCP, viaSplit, viaLong] { XCTAssertFalse(try reaches(p.peerAddress), "\(p.peerAddress): not resolved yet, dropped") }

        XCTAssertEqual(try Self.resolveTCP(f, from: "client", server: dns.peerAddress, name: "tcp.fqdn.test"), [viaTCP.peerAddress])
        XCTAssertTrue(try reaches(viaTCP.peerAddress), "an answer over TCP (length and message in one segment) is learned")
        XCTAssertEqual(try Self.resolveTCP(f, from: "client", server: dns.peerAddress, name: "split.fqdn.test"), [viaSplit.peerAddress])
        XCTAssertTrue(try reaches(viaSplit.peerAddress), "an answer over TCP whose length came in a segment of its own is learned")
        XCTAssertEqual(try Self.resolve(f, from: "client", server: dns.peerAddress, name: "long.fqdn.test"), [viaLong.peerAddress])
        XCTAssertTrue(try reaches(viaLong.peerAddress), "an A record past byte 512 of a UDP answer is learned")
    }

    /// A `*` inside the first label (Cilium's matchPattern: any label characters there, never
    /// a dot): "api-*.pat.test" allows what api-1.pat.test resolves to, and not what api.pat.test,
    /// api-1.x.pat.test or web.pat.test do; a suffix form ("*-prod") the same way.
    func testAStarInsideTheFirstLabelMatchesWithinThatLabelOnly() throws {
        let f = try EndpointFixture([("client", ["app": "client"])])
        defer { f.remove() }
        // 65: the DNS server; 66, 67: what the matching names resolve to; 68: the others
        var peers: [NetnsPeer] = []
        defer { for p in peers { p.remove() } }
        for subnet in [65, 66, 67, 68] { peers.append(try Self.outsideHost(subnet)) }
        let (dns, api, prod, other) = (peers[0], peers[1], peers[2], peers[3])
        var listeners: [Int32] = []
        defer { for l in listeners { close(l) } }
        for p in [api, prod, other] {
            listeners.append(try EndpointFixture.inside(netns: p.name) { try Sockets.listen(address: "0.0.0.0", port: 9000) })
        }
        try Self.startResponder(
            on: dns,
            zone: [
                "api-1.pat.test": [["A", api.peerAddress, 300]],
                "x-prod.pat.test": [["A", prod.peerAddress, 300]],
                "api.pat.test": [["A", other.peerAddress, 300]],
                "api-1.x.pat.test": [["A", other.peerAddress, 300]],
                "web.pat.test": [["A", other.peerAddress, 300]],
                "prod.pat.test": [["A", other.peerAddress, 300]],
                "api-1.pat.other": [["A", other.peerAddress, 300]],
            ], directory: f.directory)
        _ = try f.startAgent(
            policies: [
                "fqdn.yaml": """
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: client-fqdn-label-patterns}
                spec:
                  endpointSelector: {matchLabels: {app: client}}
                  egress:
                  - toCIDR: [\(dns.peerAddress)/32]
                    toPorts:
                    - ports: [{port: "53", protocol: UDP}]
                      rules: {dns: [{matchPattern: "*"}]}
                  - toFQDNs: [{matchPattern: "api-*.pat.test"}, {matchPattern: "*-prod.pat.test"}]
                    toPorts: [{ports: [{port: "9000", protocol: TCP}]}]
                """
            ], extraArguments: ["--fqdn-min-ttl", "0"])
        func reaches(_ addr: String) throws -> Bool { try Self.reaches(f, addr) }
        for name in ["api.pat.test", "api-1.x.pat.test", "web.pat.test", "prod.pat.test", "api-1.pat.other"] {
            XCTAssertEqual(try Self.resolve(f, from: "client", server: dns.peerAddress, name: name), [other.peerAddress], name)
            XCTAssertFalse(try reaches(other.peerAddress), "\(name) matches neither pattern")
        }
        XCTAssertFalse(try reaches(api.peerAddress), "not resolved yet")
        XCTAssertEqual(try Self.resolve(f, from: "client", server: dns.peerAddress, name: "api-1.pat.test"), [api.peerAddress])
        XCTAssertTrue(try reaches(api.peerAddress), "api-*.pat.test matches api-1.pat.test")
        XCTAssertEqual(try Self.resolve(f, from: "client", server: dns.peerAddress, name: "x-prod.pat.test"), [prod.peerAddress])
        XCTAssertTrue(try reaches(prod.peerAddress), "*-prod.pat.test matches x-prod.pat.test")
        XCTAssertFalse(try reaches(other.peerAddress), "still nothing for the others")
    }
}
