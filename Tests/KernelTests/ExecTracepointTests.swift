import BPFKit
import BPFObjects
import CVigilABI
import Foundation
import XCTest

/// The base exec sensor (bpf/progs/exec.bpf.c) on a classic tracepoint: every kernel has this tier.
final class ExecTracepointTests: XCTestCase {
    func testExecOfKnownBinaryIsReadBackFromRingBuffer() throws {
        try KernelTest.require(.tracepoint)
        let object = try BPFObject(bytes: XCTUnwrap(BPFObjects.object(named: "exec")), name: "exec")
        try object.load()
        let link = try object.program("vigil_exec").attach()
        defer { link.close() }

        var records: [vigil_exec_record] = []
        let ring = try RingBuffer(maps: [object.map("events")]) { bytes in
            let header = bytes.loadUnaligned(as: vigil_record_header.self)
            if header.kind == VIGIL_RECORD_EXEC && bytes.count >= MemoryLayout<vigil_exec_record>.size {
                records.append(bytes.loadUnaligned(as: vigil_exec_record.self))
            }
            return true
        }

        let child = try KernelTest.run("/bin/true", ["vigil-exec-test"])
        XCTAssertEqual(child.status, 0)
        try KernelTest.poll(ring) { records.contains { $0.pid == UInt32(child.pid) } }

        let record = try XCTUnwrap(records.first { $0.pid == UInt32(child.pid) }, "no exec record for pid \(child.pid) among \(records.count)")
        XCTAssertEqual(cString(record.filename), "/bin/true")
        XCTAssertEqual(cString(record.comm), "true")
        XCTAssertEqual(record.ppid, UInt32(getpid()), "the test process spawned it")
        XCTAssertEqual(record.uid, getuid())
        XCTAssertEqual(record.header.size, UInt32(MemoryLayout<vigil_exec_record>.size))
        XCTAssertGreaterThan(record.header.ktime_ns, 0)
    }
}
