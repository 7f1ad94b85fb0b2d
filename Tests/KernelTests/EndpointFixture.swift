import Datapath
import Foundation
import XCTest

/// Endpoints for datapath tests (real namespaces, veths, cgroups, made by Vigil's own
/// EndpointManager in a scratch state directory), the agent running the datapath on them, and
/// TCP sockets opened from inside an endpoint's network namespace. Everything is removed by
/// `remove()`.
final class EndpointFixture {
    let directory: String
    let manager: EndpointManager
    var records: [String: EndpointRecord] = [:]
    let policyDirectory: String
    /// The datapath's pins: the fixture's, so a restarted agent takes over from the last one.
    let pinDirectory = "/sys/fs/bpf/vigil-test-\(getpid())-\(UUID().uuidString.prefix(8))"
    var agent: AgentHarness?

    /// `endpoints`: name -> labels. Names get a per-test suffix (namespaces are machine-wide).
    init(_ endpoints: [(String, [String: String])], pool: String = "10.213.0.0/16") throws {
        try KernelTest.require(.tc)
        directory = try KernelTest.scratchDirectory()
        policyDirectory = directory + "/netpolicies"
        try FileManager.default.createDirectory(atPath: policyDirectory, withIntermediateDirectories: true)
        manager = EndpointManager(stateDirectory: directory + "/endpoints", pool: .init(pool)!)
        for (name, labels) in endpoints {
            records[name] = try manager.create(.init(name: "t\(getpid() % 10000)-\(name)", labels: labels))
        }
    }

    func address(_ name: String) -> String { records[name]!.address }

    /// Starts the agent on these endpoints with `policies` (file name -> YAML) in its policy directory.
    func startAgent(policies: [String: String] = [:], extraArguments: [String] = []) throws -> AgentHarness {
        for (name, text) in policies { try write(policy: name, text) }
        let a = try AgentHarness(
            extraArguments: [
                "--endpoint-state-dir", manager.stateDirectory, "--netpolicy-dir", policyDirectory,
                "--datapath-status-file", directory + "/datapath.json", "--datapath-pin-dir", pinDirectory,
            ] + extraArguments)
        agent = a
        try waitForRevision { _ in true }
        return a
    }

    func write(policy name: String, _ text: String) throws {
        try text.write(toFile: "\(policyDirectory)/\(name)", atomically: true, encoding: .utf8)
    }

    /// The agent's datapath status, polled until `done` holds.
    @discardableResult
    func waitForRevision(until done: ([String: Any]) -> Bool) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(KernelTest.eventTimeout)
        var last: [String: Any] = [:]
        while Date() < deadline {
            if let data = FileManager.default.contents(atPath: directory + "/datapath.json"),
                let s = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            {
                last = s
                if done(s) { return s }
            }
            usleep(50_000)
        }
        return last
    }

    /// Runs `body` with this thread in the endpoint's network namespace (sockets made there
    /// stay there), then returns to the test's own.
    func inside<T>(_ name: String, _ body: () throws -> T) throws -> T {
        try Self.inside(netns: records[name]!.netns, body)
    }

    /// Runs `body` in the named network namespace (under /run/netns).
    static func inside<T>(netns: String, _ body: () throws -> T) throws -> T {
        let name = netns
        let own = open("/proc/thread-self/ns/net", O_RDONLY)
        let target = open("/run/netns/\(netns)", O_RDONLY)
        defer {
            Self.setns(own)
            close(own)
            close(target)
        }
        guard own >= 0, target >= 0, Self.setns(target) == 0 else { throw KernelTest.Stop(reason: "setns into \(name): errno \(errno)") }
        return try body()
    }

    /// setns(2) for network namespaces (glibc declares it only under _GNU_SOURCE).
    static func setns(_ fd: Int32) -> Int32 {
        typealias Fn = @convention(c) (Int32, Int32) -> Int32
        guard let sym = dlsym(dlopen(nil, RTLD_NOW), "setns") else { return -1 }
        return unsafeBitCast(sym, to: Fn.self)(fd, 0x4000_0000)  // CLONE_NEWNET
    }

    /// A TCP listener on `port` in endpoint `name` (fd).
    func listen(in name: String, port: UInt16) throws -> Int32 {
        try inside(name) { try Sockets.listen(address: "0.0.0.0", port: port) }
    }

    /// Connects from endpoint `name`; nil when the connect did not complete within `timeout` seconds.
    func connect(from name: String, to address: String, port: UInt16, timeout: Double = 1) throws -> Int32? {
        try inside(name) { Sockets.connect(address: address, port: port, timeout: timeout) }
    }

    /// Connect attempts (each `attempt` seconds) until one completes or `within` passes: the time it took, or nil.
    func connectTime(from name: String, to address: String, port: UInt16, within: Double, attempt: Double = 0.1) throws -> Double? {
        let start = Date()
        while Date().timeIntervalSince(start) < within {
            if let fd = try connect(from: name, to: address, port: port, timeout: attempt) {
                close(fd)
                return Date().timeIntervalSince(start)
            }
        }
        return nil
    }

    func remove() {
        agent?.stop()
        agent = nil
        try? DatapathKernel.reset(pinDirectory: pinDirectory)
        for r in records.values { try? manager.delete(name: r.name) }
        records.removeAll()
    }

    deinit { remove() }
}

/// Plain blocking-with-timeout TCP sockets (no Foundation networking: the test controls every step).
enum Sockets {
    static func sockaddr(_ address: String, _ port: UInt16) -> sockaddr_in {
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        inet_pton(AF_INET, address, &sa.sin_addr)
        return sa
    }

    static func listen(address: String, port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, 4)
        var sa = sockaddr(address, port)
        let ok = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard ok == 0, Glibc.listen(fd, 64) == 0 else { throw KernelTest.Stop(reason: "listen \(address):\(port): errno \(errno)") }
        return fd
    }

    static func connect(address: String, port: UInt16, timeout: Double) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        var sa = sockaddr(address, port)
        let r = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: Glibc.sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if r != 0 && errno != EINPROGRESS {
            close(fd)
            return nil
        }
        var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&p, 1, Int32(timeout * 1000)) == 1 else {
            close(fd)
            return nil
        }
        var err: Int32 = 0
        var len = socklen_t(4)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
        guard err == 0 else {
            close(fd)
            return nil
        }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
        return fd
    }

    /// Accepts one pending connection within `timeout` seconds.
    static func accept(_ listener: Int32, timeout: Double) -> Int32? {
        var p = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, Int32(timeout * 1000)) == 1 else { return nil }
        let fd = Glibc.accept(listener, nil, nil)
        return fd >= 0 ? fd : nil
    }

    /// Sends `text` on `from` and whether it arrives on `to` within `timeout` seconds.
    static func exchange(_ text: String, from: Int32, to: Int32, timeout: Double) -> Bool {
        let bytes = Array(text.utf8)
        guard send(from, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else { return false }
        var p = pollfd(fd: to, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, Int32(timeout * 1000)) == 1 else { return false }
        var buf = [UInt8](repeating: 0, count: 256)
        let n = recv(to, &buf, buf.count, 0)
        return n == bytes.count && Array(buf[..<n]) == bytes
    }
}
