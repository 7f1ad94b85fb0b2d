import Foundation
import XCTest

/// A "remote host" for network tests: a network namespace joined to this one by a veth
/// pair the test creates (host side 10.200.N.1/24, peer 10.200.N.2/24), never another
/// machine. Listeners in it are busybox nc processes. Everything is removed on `remove()`.
final class NetnsPeer {
    let name: String
    let hostAddress: String
    let peerAddress: String
    private var listeners: [Process] = []

    /// `subnet` picks 10.200.<subnet>.0/24 (tests running in parallel use different ones).
    init(subnet: Int) throws {
        name = "vigil-peer-\(subnet)"
        hostAddress = "10.200.\(subnet).1"
        peerAddress = "10.200.\(subnet).2"
        let hostIf = "vgh\(subnet)"
        let peerIf = "vgp\(subnet)"
        // left over from an interrupted run (errors ignored: usually there is none)
        _ = try? KernelTest.run("/usr/sbin/ip", ["netns", "del", name])
        _ = try? KernelTest.run("/usr/sbin/ip", ["link", "del", hostIf])
        for args in [
            ["netns", "add", name],
            ["link", "add", hostIf, "type", "veth", "peer", "name", peerIf],
            ["link", "set", peerIf, "netns", name],
            ["addr", "add", "\(hostAddress)/24", "dev", hostIf],
            ["link", "set", hostIf, "up"],
            ["-n", name, "addr", "add", "\(peerAddress)/24", "dev", peerIf],
            ["-n", name, "link", "set", peerIf, "up"],
            ["-n", name, "link", "set", "lo", "up"],
        ] {
            try Self.ip(args)
        }
    }

    @discardableResult
    static func ip(_ args: [String]) throws -> String {
        let r = try KernelTest.run("/usr/sbin/ip", args)
        guard r.status == 0 else {
            XCTFail("ip \(args.joined(separator: " ")): \(r.stderr)")
            throw KernelTest.Stop(reason: "ip \(args.joined(separator: " ")) failed")
        }
        return r.stderr
    }

    /// A TCP listener on the peer's `port` that accepts one connection (busybox nc).
    func listen(port: UInt16) throws {
        try serve(["/bin/busybox", "nc", "-l", "-p", "\(port)"], readyWhen: "netstat -ltn | grep -q ':\(port) '")
    }

    /// Runs `command` in the peer namespace until `remove()`; ready when the busybox shell
    /// test `readyWhen` (run in the namespace) succeeds.
    @discardableResult
    func serve(_ command: [String], readyWhen: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        p.arguments = ["netns", "exec", name] + command
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        listeners.append(p)
        // ready once the port answers (a refused connect means not yet)
        let deadline = Date().addingTimeInterval(KernelTest.eventTimeout)
        while Date() < deadline {
            let out = try KernelTest.run("/usr/sbin/ip", ["netns", "exec", name, "/bin/busybox", "sh", "-c", readyWhen])
            if out.status == 0 { return p }
            usleep(50_000)
        }
        XCTFail("\(command.joined(separator: " ")) in \(name) did not start (\(readyWhen))")
        throw KernelTest.Stop(reason: "peer server did not start")
    }

    func remove() {
        for p in listeners where p.isRunning { p.terminate() }
        listeners.removeAll()
        _ = try? KernelTest.run("/usr/sbin/ip", ["netns", "del", name])
    }

    deinit { remove() }
}
