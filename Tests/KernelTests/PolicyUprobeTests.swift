import AgentCore
import BPFKit
import Foundation
import KernelFeatures
import PolicyEngine
import PolicyYAML
import Sensors
import XCTest

// kernel-test-guests: 6.1: uprobes on the oldest kernel (the host runs them too); the guests share two emulated cores
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

    /// A one-hook uprobe policy on `path` (`place`: its symbols: or offsets: line) with one
    /// argument and one selector testing it.
    static func policy(_ name: String, path: String, place: String, arg: String, test: String, actions: String = "") -> String {
        """
        apiVersion: cilium.io/v1alpha1
        kind: TracingPolicy
        metadata: {name: \(name)}
        spec:
          uprobes:
          - path: "\(path)"
            \(place)
            args: [{index: 0, type: \(arg)}]
            selectors:
            - matchArgs: [{index: 0, \(test)}]\(actions.isEmpty ? "" : "\n      matchActions: [\(actions)]")
        """
    }

    /// This process's records, once the first has arrived and what followed it was drained.
    static func ownRecords(_ ring: RingBuffer, _ records: () -> [DecodedHookRecord]) throws -> [DecodedHookRecord] {
        let me = UInt32(getpid())
        try KernelTest.poll(ring) { records().contains { $0.pid == me } }
        usleep(200_000)  // a record the filter should have dropped would be there by now
        _ = try? ring.consume()
        return records().filter { $0.pid == me }
    }

    private func load(_ yaml: String, name: String) throws -> (ProcessSensor, PolicyManager, RingBuffer, () -> [DecodedHookRecord]) {
        let sensor = try ProcessSensor(ringBufferBytes: 1 << 20)
        try sensor.attach()
        let manager = PolicyManager(shared: .init(try sensor.sharedMaps()))
        let parsed = PolicyLoader.parse(Array(yaml.utf8), file: "\(name).yaml")
        XCTAssertTrue(parsed.isValid, "\(parsed.diagnostics)")
        try manager.load(XCTUnwrap(parsed.policies.first))
        XCTAssertEqual(manager.loaded[name]?.hooks.first?.plan.flavour, .uprobe)
        final class Box: @unchecked Sendable { var records: [DecodedHookRecord] = [] }
        let box = Box()
        let ring = try RingBuffer(maps: [sensor.eventsMap()]) { bytes in
            if RecordKind(of: bytes) == .hook, let (r, _) = manager.decode(bytes) { box.records.append(r) }
            return true
        }
        return (sensor, manager, ring, { box.records })
    }

    /// An integer register argument, filtered in the kernel: only the call with 41 posts.
    func testIntegerArgumentOfOwnFunctionFilteredInKernel() throws {
        try KernelTest.require(.uprobe)
        let policy = Self.policy(
            "own-function", path: Self.executable, place: "symbols: [\(UprobeSelfTarget.symbol)]",
            arg: "int32", test: "operator: Equal, values: [\"41\"]")
        let (sensor, manager, ring, records) = try load(policy, name: "own-function")
        defer {
            manager.unloadAll()
            sensor.detach()
        }
        XCTAssertEqual(
            manager.loaded["own-function"]?.hooks.first?.plan.attach,
            .uprobe(binary: Self.executable, symbol: UprobeSelfTarget.symbol, offset: 0))
        for x: Int32 in [7, 41, 8, 9] { XCTAssertEqual(UprobeSelfTarget.call(x), x + 1) }
        let mine = try Self.ownRecords(ring, records)
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
        let policy = Self.policy("getenv-watch", path: libc, place: "symbols: [getenv]", arg: "string", test: "operator: Prefix, values: [\"\(marker)\"]")
        let (sensor, manager, ring, records) = try load(policy, name: "getenv-watch")
        defer {
            manager.unloadAll()
            sensor.detach()
        }
        _ = getenv(marker + "_A")
        _ = getenv("VIGIL_OTHER_\(getpid())")
        let mine = try Self.ownRecords(ring, records)
        XCTAssertEqual(mine.map { $0.args.first?.value }, [.string(marker + "_A")], "only the name with the prefix is posted")
        XCTAssertTrue(records().allSatisfy { if case .string(let s)? = $0.args.first?.value { return s.hasPrefix(marker) } else { return false } })
    }

    /// Placed by file offset (Tetragon's `offsets`, for stripped binaries): the same function,
    /// its file offset computed here from the executable's ELF symbol and load segments.
    func testPlacedByFileOffset() throws {
        try KernelTest.require(.uprobe)
        let offset = try XCTUnwrap(
            ELFSymbols.fileOffset(of: UprobeSelfTarget.symbol, in: Self.executable), "no \(UprobeSelfTarget.symbol) in \(Self.executable)")
        let policy = Self.policy("by-offset", path: Self.executable, place: "offsets: [\(offset)]", arg: "int32", test: "operator: Equal, values: [\"1234\"]")
        let (sensor, manager, ring, records) = try load(policy, name: "by-offset")
        defer {
            manager.unloadAll()
            sensor.detach()
        }
        XCTAssertEqual(manager.loaded["by-offset"]?.hooks.first?.plan.offset, offset)
        UprobeSelfTarget.call(1234)
        UprobeSelfTarget.call(99)
        XCTAssertEqual(try Self.ownRecords(ring, records).map { $0.args.first?.value }, [.int(1234)])
    }

    /// Sigkill from a uprobe: a process calling getenv with the marked name dies in the call
    /// (python's ctypes calls libc's getenv directly); the same program asking for another
    /// name exits normally.
    func testSigkillFromUprobe() throws {
        try KernelTest.require(.uprobe)
        try KernelTest.require(.sendSignal)
        let libc = try Self.mappedLibc()
        let marker = "VIGIL_KILL_\(getpid())"
        let policy = Self.policy(
            "getenv-kill", path: libc, place: "symbols: [getenv]", arg: "string",
            test: "operator: Equal, values: [\"\(marker)\"]", actions: "{action: Sigkill}")
        let (sensor, manager, _, _) = try load(policy, name: "getenv-kill")
        defer {
            manager.unloadAll()
            sensor.detach()
        }
        func ask(_ name: String) throws -> Int32 {
            try KernelTest.run("/usr/bin/python3", ["-c", "import ctypes; ctypes.CDLL(None).getenv(b'\(name)'); print('survived')"]).status
        }
        XCTAssertEqual(try ask(marker + "_OTHER"), 0, "another name is not killed")
        XCTAssertEqual(try ask(marker), SIGKILL, "killed inside getenv by the uprobe")
    }
}

/// Just enough of ELF64 to turn a function symbol into the file offset a uprobe takes.
enum ELFSymbols {
    static func fileOffset(of name: String, in path: String) throws -> UInt64? {
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        func u16(_ o: Int) -> Int { Int(data[o]) | Int(data[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        func u64(_ o: Int) -> UInt64 { UInt64(u32(o)) | UInt64(u32(o + 4)) << 32 }
        guard data.count > 64, data[0] == 0x7f, data[4] == 2 else { return nil }  // ELF64
        let phoff = Int(u64(32))
        let shoff = Int(u64(40))
        let phentsize = u16(54)
        let phnum = u16(56)
        let shentsize = u16(58)
        let shnum = u16(60)
        var value: UInt64?
        for i in 0..<shnum where value == nil {
            let sh = shoff + i * shentsize
            let type = u32(sh + 4)
            guard type == 2 || type == 11 else { continue }  // SHT_SYMTAB, SHT_DYNSYM
            let symOff = Int(u64(sh + 24))
            let symSize = Int(u64(sh + 32))
            let entSize = Int(u64(sh + 56))
            let strSh = shoff + u32(sh + 40) * shentsize
            let strOff = Int(u64(strSh + 24))
            for j in 0..<(entSize > 0 ? symSize / entSize : 0) {
                let sym = symOff + j * entSize
                var k = strOff + u32(sym)
                var bytes: [UInt8] = []
                while data[k] != 0 {
                    bytes.append(data[k])
                    k += 1
                }
                if String(decoding: bytes, as: UTF8.self) == name, u64(sym + 8) != 0 {
                    value = u64(sym + 8)
                    break
                }
            }
        }
        guard let vaddr = value else { return nil }
        for i in 0..<phnum {
            let ph = phoff + i * phentsize
            guard u32(ph) == 1 else { continue }  // PT_LOAD
            let off = u64(ph + 8)
            let segVaddr = u64(ph + 16)
            let fileSize = u64(ph + 32)
            if vaddr >= segVaddr && vaddr < segVaddr + fileSize { return vaddr - segVaddr + off }
        }
        return nil
    }
}
