import BPFKit
import Foundation
import KernelFeatures
import XCTest

/// The feature probe on the running kernel.
final class ProbeTests: XCTestCase {
    /// Features Vigil's baseline needs: a probe that calls them missing on a kernel at or
    /// above their introduction is treated as a probe bug, not a kernel gap.
    static let baseline: [KernelFeature] = [.btf, .ringBuffer, .tracepoint, .rawTracepoint, .tpBTF, .cgroupSockAddr, .cgroupSKB, .tc, .sendSignal]

    func testBaselineFeaturesAreReportedAvailable() throws {
        try KernelTest.requireRoot()
        for f in Self.baseline where KernelVersion.running >= f.since {
            XCTAssertTrue(FeatureProbe.shared.isSupported(f), "\(f) on \(KernelVersion.running): \(FeatureProbe.shared.status(f))")
        }
    }

    /// The harness names what each kernel must offer (VIGIL_EXPECT_FEATURES / VIGIL_EXPECT_MISSING).
    func testProbeMatchesWhatTheHarnessExpects() throws {
        try KernelTest.requireRoot()
        let env = ProcessInfo.processInfo.environment
        let expected = KernelTest.expectedFeatures
        let missing = Set((env["VIGIL_EXPECT_MISSING"] ?? "").split(separator: ",").map(String.init))
        for f in KernelFeature.allCases {
            if expected.contains(f.rawValue) {
                XCTAssertTrue(FeatureProbe.shared.isSupported(f), "\(f) expected available: \(FeatureProbe.shared.status(f))")
            }
            if missing.contains(f.rawValue) {
                let status = FeatureProbe.shared.status(f)
                guard case .unsupported = status else {
                    XCTFail("\(f) expected unavailable, probe says \(status)")
                    continue
                }
            }
        }
    }

    /// `vigil probe --json` runs from another directory (objects are embedded) and prints valid JSON.
    func testProbeCommandPrintsJSONFromAnyDirectory() throws {
        try KernelTest.requireRoot()
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vigil")
        // The test bundle sits next to the vigil executable in the build directory.
        let exe =
            FileManager.default.fileExists(atPath: binary.path) ? binary : Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("vigil")
        guard FileManager.default.isExecutableFile(atPath: exe.path) else {
            return XCTFail("vigil binary not found next to the tests at \(exe.path): build it first (swift build)")
        }
        let p = Process()
        p.executableURL = exe
        p.arguments = ["probe", "--json"]
        p.currentDirectoryURL = URL(fileURLWithPath: "/")
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(json["kernel"] as? String, KernelVersion.running.release)
        let features = try XCTUnwrap(json["features"] as? [[String: Any]])
        XCTAssertEqual(features.count, KernelFeature.allCases.count)
        for f in features {
            let name = try XCTUnwrap(f["name"] as? String)
            let feature = try XCTUnwrap(KernelFeature(rawValue: name))
            XCTAssertEqual(f["available"] as? Bool, FeatureProbe.shared.isSupported(feature), name)
        }
        XCTAssertEqual((json["tiers"] as? [Any])?.count, Capability.allCases.count)
    }
}

/// Tracepoint formats as the running kernel prints them (what `tracepoints:` indexes mean).
final class TracepointFormatKernelTests: XCTestCase {
    func testSyscallAndRawSyscallFormats() throws {
        try KernelTest.require(.tracepoint)
        let openat = try XCTUnwrap(TracepointFormat.load(subsystem: "syscalls", event: "sys_enter_openat"))
        let filename = try XCTUnwrap(openat.fields.first { $0.name == "filename" })
        XCTAssertTrue(filename.isPointer)
        XCTAssertEqual(filename.size, 8)
        let raw = try XCTUnwrap(TracepointFormat.load(subsystem: "raw_syscalls", event: "sys_enter"))
        XCTAssertEqual(raw.fields[4].name, "id", "Tetragon's raw_syscalls examples read index 4 as the syscall id")
        XCTAssertNil(TracepointFormat.load(subsystem: "nope", event: "nope"))
    }
}
