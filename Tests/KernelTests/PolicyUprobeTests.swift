import AgentCore
import BPFKit
import Foundation
import KernelFeatures
import PolicyEngine
import PolicyYAML
import Sensors
import XCTest

/// uprobes: policies on user-space functions, filtered in the kernel. In-process, like
/// PolicyFunctionTests: the process sensor, the policy manager and the ring buffer. The probed
/// functions are this test process's own: a C function linked into it (UprobeSelfTarget) and
/// libc's getenv, so no system binary's symbols are assumed.
final class PolicyUprobeTests: XCTestCase {
    /// The running test executable (what /proc/self/exe names).
    static var executable: String { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "/proc/self/exe" }

    /// The libc this process mapped (/proc/self/maps), else Debian's path for it.
    static func mappedLibc() throws -> String {
        let maps = (try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8)) ?? ""
        let mapped = maps.split(separator: "\n").compactMap { line -> String? in
            guard let slash = line.firstIndex(of: "/") else { return nil }
            let p = String(line[slash...]).replacingOccurrences(of: " (deleted)", with: "")
            return p.contains("/libc.so") || p.contains("/libc-") ? p : nil
        }.first
        let path = mapped ?? ["/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6"].first { FileManager.default.fileExists(atPath: $0) }
        return try XCTUnwrap(path, "no libc in /proc/self/maps: \(maps.split(separator: "\n").filter { $0.contains("libc") })")
    }

    private func load(_ yaml: String, name: String) throws -> (ProcessSensor, PolicyManager, RingBuffer, () -> [DecodedHookRecord]) {
        let sensor = try ProcessSensor(ringBufferBytes: 1 << 20)
        try sensor.attach()
        let manager = PolicyManager(shared: .init(events: try sensor.eventsMap(), processes: try sensor.processesMap(), wakeupBytes: sensor.wakeupBytes))
        let parsed = PolicyLoader.parse(Array(yaml.utf8), file: "\(name).yaml")
        XCTAssertTrue(parsed.isValid, "\(parsed.diagnostics)")
        try manager.load(XCTUnwrap(parsed.policies.first))
        XCTAssertEqual(manager.loaded[name]?.hooks.first?.plan.flavour, .uprobe)
        final class Box: @unchecked Sendable { var records: [DecodedHookRecord] = [] }
        let box = Box()
        let ring = try RingBuffer(maps: [sensor.eventsMap()]) { bytes in
            if HookRecordDecoder.isHookRecord(bytes), let (r, _) = manager.decode(bytes) { box.records.append(r) }
            return true
        }
        return (sensor, manager, ring, { box.records })
    }

    /// An integer register argument, filtered in the kernel: only the call with 41 posts.
    func testIntegerArgumentOfOwnFunctionFilteredInKernel() throws {
        try KernelTest.require(.uprobe)
        let policy = """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata: {name: own-function}
        spec:
          uprobes:
          - path: "\(Self.executable)"
            symbols: ["\(UprobeSelfTarget.symbol)"]
            args: [{index: 0, type: int32}]
            selectors:
            - matchArgs: [{index: 0, operator: Equal, values: ["41"]}]
        """
        let (sensor, manager, ring, records) = try load(policy, name: "own-function")
        defer { manager.unloadAll(); sensor.detach() }
        XCTAssertEqual(manager.loaded["own-function"]?.hooks.first?.plan.attach,
                       .uprobe(binary: Self.executable, symbol: UprobeSelfTarget.symbol, offset: 0))
        for x: Int32 in [7, 41, 8, 9] { XCTAssertEqual(UprobeSelfTarget.call(x), x + 1) }
        let me = UInt32(getpid())
        try KernelTest.poll(ring) { records().contains { $0.pid == me } }
        ring.consumeBriefly()
        let mine = records().filter { $0.pid == me }
        XCTAssertEqual(mine.count, 1, "one call of four passes the filter: \(mine.map(\.args))")
        XCTAssertEqual(mine.first?.args.first?.value, .int(41))
        // (no exec identity: this test process started before the sensor, and only the agent
        // seeds the kernel's process table from /proc)
        XCTAssertEqual(mine.first?.action, "KPROBE_ACTION_POST")
    }

    /// A string argument read from the calling process's memory (libc getenv's name), and a
    /// Prefix filter on it: other processes' getenv calls never leave the kernel.
    func testStringArgumentReadFromUserMemory() throws {
        try KernelTest.require(.uprobe)
        let libc = try Self.mappedLibc()
        let marker = "VIGIL_UPROBE_\(getpid())"
        let policy = """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata: {name: getenv-watch}
        spec:
          uprobes:
          - path: "\(libc)"
            symbols: ["getenv"]
            args: [{index: 0, type: string}]
            selectors:
            - matchArgs: [{index: 0, operator: Prefix, values: ["\(marker)"]}]
        """
        let (sensor, manager, ring, records) = try load(policy, name: "getenv-watch")
        defer { manager.unloadAll(); sensor.detach() }
        _ = getenv(marker + "_A")
        _ = getenv("VIGIL_OTHER_\(getpid())")
        let me = UInt32(getpid())
        try KernelTest.poll(ring) { records().contains { $0.pid == me } }
        ring.consumeBriefly()
        let mine = records().filter { $0.pid == me }
        XCTAssertEqual(mine.map { $0.args.first?.value }, [.string(marker + "_A")], "only the name with the prefix is posted")
        XCTAssertTrue(records().allSatisfy { if case .string(let s)? = $0.args.first?.value { return s.hasPrefix(marker) } else { return false } })
    }

    /// Sigkill from a uprobe: a process calling getenv with the marked name dies in the call
    /// (python's ctypes calls libc's getenv directly); the same program asking for another
    /// name exits normally.
    func testSigkillFromUprobe() throws {
        try KernelTest.require(.uprobe)
        try KernelTest.require(.sendSignal)
        let libc = try Self.mappedLibc()
        let marker = "VIGIL_KILL_\(getpid())"
        let policy = """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata: {name: getenv-kill}
        spec:
          uprobes:
          - path: "\(libc)"
            symbols: ["getenv"]
            args: [{index: 0, type: string}]
            selectors:
            - matchArgs: [{index: 0, operator: Equal, values: ["\(marker)"]}]
              matchActions: [{action: Sigkill}]
        """
        let (sensor, manager, _, _) = try load(policy, name: "getenv-kill")
        defer { manager.unloadAll(); sensor.detach() }
        func ask(_ name: String) throws -> Int32 {
            try KernelTest.run("/usr/bin/python3", ["-c", "import ctypes; ctypes.CDLL(None).getenv(b'\(name)'); print('survived')"]).status
        }
        XCTAssertEqual(try ask(marker + "_OTHER"), 0, "another name is not killed")
        XCTAssertEqual(try ask(marker), SIGKILL, "killed inside getenv by the uprobe")
    }
}

private extension RingBuffer {
    /// Drains what arrived shortly after the awaited record (a record the filter should have
    /// dropped would be there too).
    func consumeBriefly() {
        usleep(200_000)
        _ = try? consume()
    }
}
