import BPFKit
import Foundation
import KernelFeatures
import XCTest

/// Shared rules for tests that run in a real kernel (the host's, or a qemu guest's).
///
/// - They need root: without it they skip with that reason, except under CI=true (fail).
/// - A test needing a feature skips only when the kernel lacks it, and says which and why.
/// - `VIGIL_EXPECT_FEATURES` (comma-separated `KernelFeature` names), set by the VM
///   harness for kernels known to have them, turns that skip into a failure: a tier the
///   CI run promises to exercise can never silently skip.
/// - With `CI=true` nothing skips: a missing feature is a failure. `scripts/test` therefore
///   runs on each kernel only the test classes that kernel can host (a class names the tiers
///   it needs in a `// kernel-test-requires:` line, checked against `vigil probe`); the
///   guests run them all.
enum KernelTest {
    /// Ends a test that has already recorded its failure (a thrown XCTSkip would also count it as skipped).
    struct Stop: Error, CustomStringConvertible {
        let reason: String
        var description: String { reason }
    }

    static var inCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// The files of a suite directory this kernel runs: all of them on the host, and in an
    /// emulated guest its share. The two guests share the host's two cores, so CI gives each
    /// suite to one of them: `shares` names the files of some kernel series ("6.12"), a guest
    /// of another series runs the files no share names. VIGIL_VM_SPLIT=0 runs all everywhere.
    static func guestShare(of files: [String], shares: [String: Set<String>]) -> [String] {
        let env = ProcessInfo.processInfo.environment
        guard env["VIGIL_IN_VM"] != nil, env["VIGIL_VM_SPLIT"] != "0" else { return files }
        var uts = utsname()
        uname(&uts)
        let release = withUnsafeBytes(of: &uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let series = release.split(separator: ".").prefix(2).joined(separator: ".")
        if let mine = shares[series] { return files.filter(mine.contains) }
        let named = shares.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        return files.filter { !named.contains($0) }
    }

    /// Kernel tests load BPF programs: without root they skip with that reason (a plain
    /// `swift test` as a user runs the unit tests and passes), except under CI=true, where
    /// every kernel test must run.
    static func requireRoot(file: StaticString = #filePath, line: UInt = #line) throws {
        if geteuid() != 0 {
            let reason = "requires root (kernel tests load BPF programs); run the README's test command as root"
            if inCI {
                XCTFail("CI=true: " + reason, file: file, line: line)
                throw Stop(reason: "not root")
            }
            throw XCTSkip(reason)
        }
        _ = KernelFilesystems.ensureAll()
    }

    static var expectedFeatures: Set<String> {
        Set((ProcessInfo.processInfo.environment["VIGIL_EXPECT_FEATURES"] ?? "").split(separator: ",").map(String.init))
    }

    /// Skips with a named reason when the running kernel lacks `feature`, unless the
    /// harness declared the feature expected on this kernel, in which case it fails.
    static func require(_ feature: KernelFeature, file: StaticString = #filePath, line: UInt = #line) throws {
        try requireRoot(file: file, line: line)
        let status = FeatureProbe.shared.status(feature)
        if status.isSupported { return }
        let reason = "requires \(feature) (Linux \(feature.since)+, \(feature.summary)); kernel \(KernelVersion.running): \(status)"
        if expectedFeatures.contains(feature.rawValue) || inCI {
            XCTFail((inCI ? "CI=true: no kernel test may skip; " : "expected on this kernel but missing: ") + reason, file: file, line: line)
            throw Stop(reason: reason)
        }
        throw XCTSkip(reason)
    }

    /// Skips unless BPF-LSM programs load and `bpf` is an active LSM (same expectation rule).
    static func requireActiveBPFLSM(file: StaticString = #filePath, line: UInt = #line) throws {
        try require(.lsm, file: file, line: line)
        let lsms = readTextFile("/sys/kernel/security/lsm") ?? ""
        if !lsms.split(separator: ",").contains("bpf") {
            let reason = "requires bpf in the active LSM list (boot with lsm=...,bpf); active: \(lsms)"
            if expectedFeatures.contains("lsm") || inCI {
                XCTFail(reason, file: file, line: line)
                throw Stop(reason: reason)
            }
            throw XCTSkip(reason)
        }
    }

    /// How long to wait for kernel events: qemu's emulated CPUs are much slower.
    static var eventTimeout: TimeInterval { ProcessInfo.processInfo.environment["VIGIL_IN_VM"] != nil ? 30 : 5 }

    /// How long an agent may take to load its policies and become ready: the kernel verifies
    /// every hook's program (the whole default library: ~15 s here, many times that on
    /// qemu's emulated CPUs). Only a failing start waits this long.
    static var agentStartTimeout: TimeInterval { ProcessInfo.processInfo.environment["VIGIL_IN_VM"] != nil ? 600 : 90 }

    /// Polls `ring` until `done` returns true or the timeout passes.
    static func poll(_ ring: RingBuffer, until done: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(eventTimeout)
        while !done() && Date() < deadline {
            try ring.poll(timeoutMs: 100)
        }
    }

    /// Runs `path` with `arguments`, returning pid, exit status and stderr.
    @discardableResult
    static func run(_ path: String, _ arguments: [String]) throws -> (pid: Int32, status: Int32, stderr: String, stdout: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        let err = Pipe()
        let out = Pipe()
        p.standardError = err
        p.standardOutput = out
        try p.run()
        let pid = p.processIdentifier
        // stdout on its own thread: a child filling one pipe while we wait on the other would stall
        let stdout = Unchecked(Data())
        let reading = DispatchGroup()
        DispatchQueue.global().async(group: reading) { stdout.value = out.fileHandleForReading.readDataToEndOfFile() }
        let data = err.fileHandleForReading.readDataToEndOfFile()
        reading.wait()
        p.waitUntilExit()
        return (pid, p.terminationStatus, String(decoding: data, as: UTF8.self), String(decoding: stdout.value, as: UTF8.self))
    }

    /// A fresh scratch directory on a real filesystem (not tmpfs-only assumptions).
    static func scratchDirectory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-test-\(getpid())-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.path
    }
}

/// Reads a NUL-terminated fixed-size C char array field as a String.
func cString<T>(_ tuple: T) -> String {
    withUnsafeBytes(of: tuple) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
}

/// A value handed to one other thread, read after it is done.
final class Unchecked<T>: @unchecked Sendable {
    var value: T
    init(_ v: T) { value = v }
}
