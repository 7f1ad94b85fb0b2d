import BPFKit
import CVigilABI
import Foundation
import PolicyEngine
import PolicyYAML
import Sensors
import XCTest

// kernel-test-guests: 6.1: record sizes through the oldest verifier; the guests share two emulated cores
/// A hook's records carry the fixed part and only the argument slots the hook uses, so the
/// ring holds more of them (a hook without arguments: 224 bytes, not the 1544 of a full
/// record). In-process on the tracepoint tier (every kernel, the host's included).
final class HookRecordSizeTests: XCTestCase {
    static let cat = PolicyTracepointTests.cat

    func testRecordsCarryOnlyTheSlotsTheirHookUses() throws {
        try KernelTest.require(.tracepoint)
        let sensor = try ProcessSensor(ringBufferBytes: 1 << 20)
        try sensor.attach()
        defer { sensor.detach() }
        let manager = PolicyManager(
            shared: .init(try sensor.sharedMaps()),
            environment: .running)
        defer { manager.unloadAll() }
        for (name, prefix) in [("size-no-args", nil), ("size-two-args", "/etc/")] {
            let yaml = PolicyTracepointTests.openatPolicy(name: name, prefix: prefix, binary: Self.cat)
            let parsed = PolicyLoader.parse(Array(yaml.utf8), file: name + ".yaml")
            XCTAssertTrue(parsed.isValid, "\(parsed.diagnostics)")
            try manager.load(XCTUnwrap(parsed.policies.first))
        }
        var sizes: [String: Set<Int>] = [:]
        var paths: [String] = []
        let ring = try RingBuffer(maps: [sensor.eventsMap()]) { bytes in
            if RecordKind(of: bytes) == .hook, let (r, loaded) = manager.decode(bytes) {
                sizes[loaded.plan.policyName, default: []].insert(bytes.count)
                switch r.args.last?.value {
                case .string(let p)?, .file(let p, _)?: paths.append(p)  // a filtered filename is the opened file
                default: break
                }
            }
            return true
        }
        let run = try KernelTest.run(Self.cat, ["/etc/hostname"])
        XCTAssertEqual(run.status, 0)
        try KernelTest.poll(ring) { sizes.count == 2 && paths.contains("/etc/hostname") }
        let fixed = MemoryLayout<vigil_hook_record>.offset(of: \vigil_hook_record.slots)!
        let slot = MemoryLayout<vigil_hook_slot>.stride
        // ring records are padded to 8 bytes; both sizes are multiples of 8 already
        XCTAssertEqual(sizes["size-no-args"], [fixed], "a hook without arguments sends no slot")
        XCTAssertEqual(sizes["size-two-args"], [fixed + 2 * slot], "two arguments, two slots")
        XCTAssertLessThan(fixed + 2 * slot, MemoryLayout<vigil_hook_record>.size)
    }
}
