import BPFKit
import BPFTestObjects
import CVigilABI
import Foundation
import XCTest

/// fentry and kprobe tiers, each observing the test's own unlink() through do_unlinkat
/// (bpf/tests/trace_unlink.bpf.c). They need a full kernel: the qemu guests run them.
// kernel-test-requires: fentry kprobe  (read by scripts/test: the class runs only on kernels with all of them)
final class TracingTierTests: XCTestCase {
    func testFentryObservesUnlink() throws {
        try KernelTest.require(.fentry)
        try observeUnlink(program: "unlink_fentry", tier: 1) { try $0.attach() }
    }

    func testKprobeObservesUnlink() throws {
        try KernelTest.require(.kprobe)
        try observeUnlink(program: "unlink_kprobe", tier: 2) { try $0.attachKprobe("do_unlinkat") }
    }

    private func observeUnlink(program: String, tier: Int32, attach: (BPFProgram) throws -> BPFLink) throws {
        let object = try BPFObject(bytes: XCTUnwrap(BPFTestObjects.object(named: "trace_unlink")), name: "trace_unlink")
        try object.keepOnly(programs: [program])
        try object.setRodata("target_pid", to: UInt32(getpid()))
        try object.load()
        let link = try attach(object.program(program))
        defer { link.close() }

        var seen: [vigil_test_record] = []
        let ring = try RingBuffer(maps: [object.map("events")]) { bytes in
            seen.append(bytes.loadUnaligned(as: vigil_test_record.self))
            return true
        }
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/unlink-me-\(program)"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data("x".utf8)))
        XCTAssertEqual(unlink(path), 0)
        try KernelTest.poll(ring) { seen.contains { cString($0.name) == path } }

        let record = try XCTUnwrap(seen.first { cString($0.name) == path }, "no record for \(path); saw \(seen.map { cString($0.name) })")
        XCTAssertEqual(record.pid, UInt32(getpid()))
        XCTAssertEqual(record.ret, tier)
    }
}
