import Foundation
import XCTest

/// The `vigil` binary as users run it: exit codes, output shape, help text.
final class CLITests: XCTestCase {
    static var binDir: URL {
        // The test bundle sits next to the built executables.
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    }
    static var fixtures: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("PolicyYAMLTests/Fixtures")
    }

    private func vigil(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
        let exe = Self.binDir.appendingPathComponent("vigil")
        guard FileManager.default.isExecutableFile(atPath: exe.path) else {
            XCTFail("vigil not built next to the tests (\(exe.path)): run swift build first")
            return (-1, "", "")
        }
        let p = Process()
        p.executableURL = exe
        p.arguments = args
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    func testValidateThreeMistakesPrintsThreePositionedErrorsAndExits2() throws {
        let file = Self.fixtures.appendingPathComponent("invalid/three-mistakes.yaml").path
        let r = try vigil(["policy", "validate", file])
        XCTAssertEqual(r.status, 2)
        let errors = r.err.split(separator: "\n").filter { $0.contains(": error: ") }
        XCTAssertEqual(errors.count, 3)
        XCTAssertTrue(errors[0].hasPrefix("\(file):8:5: error: spec.kprobes[0].sycall: unknown key \"sycall\" (did you mean \"syscall\"?)"), String(errors[0]))
        XCTAssertTrue(r.err.hasSuffix("\(file): 3 errors\n"))
    }

    func testValidateValidFilesExits0() throws {
        let a = Self.fixtures.appendingPathComponent("conformance/lsm_file_open.yaml").path
        let b = Self.fixtures.appendingPathComponent("conformance/tcp-connect.yaml").path
        let r = try vigil(["policy", "validate", a, b])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.out, "\(a): ok (1 hook; lsm-file-open)\n\(b): ok (3 hooks; connect)\n")
    }

    func testValidateMixedFilesReportsBothAndExits2() throws {
        let good = Self.fixtures.appendingPathComponent("conformance/tcp-connect.yaml").path
        let r = try vigil(["policy", "validate", good, "/nonexistent.yaml"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.out.contains("\(good): ok"))
        XCTAssertTrue(r.err.contains("/nonexistent.yaml:1:1: error: file not found; check the path"))
    }

    func testNetpolicyValidate() throws {
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples/datapath/three-tier.yaml").path
        let ok = try vigil(["netpolicy", "validate", examples])
        XCTAssertEqual(ok.status, 0, ok.err)
        XCTAssertEqual(ok.out, "\(examples): ok (default/backend-from-frontend: 1 rule; default/db-from-backend: 2 rules)\n")
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-cli-\(getpid())-bad.yaml").path
        try "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x}\nspec:\n  podSelector: {}\n  ingress:\n  - ports: [{port: 99999}]\n"
            .write(toFile: bad, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: bad) }
        let r = try vigil(["netpolicy", "validate", bad])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.err.hasPrefix("\(bad):7:20: error: spec.ingress[0].ports[0].port: port \"99999\" is not a number in 0-65535"), r.err)
    }

    func testBadFlagIsAClearErrorWithNonZeroExit() throws {
        let r = try vigil(["probe", "--jsn"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("Unknown option '--jsn'"), r.err)
    }

    func testExplainJSONIsValid() throws {
        let r = try vigil(["policy", "explain", "--json", Self.fixtures.appendingPathComponent("conformance/lsm_file_open.yaml").path])
        XCTAssertEqual(r.status, 0, r.err)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [[String: Any]])
        XCTAssertEqual(json.first?["policy"] as? String, "lsm-file-open")
        XCTAssertEqual((json.first?["hooks"] as? [Any])?.count, 1)
    }
}

/// `vigil agent` refuses bad input before touching the kernel.
final class AgentCLITests: XCTestCase {
    private func run(_ args: [String], asUser user: String? = nil) throws -> (status: Int32, err: String) {
        let exe = CLITests.binDir.appendingPathComponent("vigil").path
        let p = Process()
        if let user {
            p.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
            p.arguments = ["-u", user, "--", exe] + args
        } else {
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = args
        }
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: e, as: UTF8.self))
    }

    /// A temporary `vigil agent --config` file holding `text`; the caller removes it.
    private func configFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-cfg-\(getpid())-\(UUID().uuidString.prefix(8)).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testUnknownConfigKeyIsPositionedAndExits2() throws {
        let path = try configFile("node-name: n1\nexport-fille: /tmp/x.json\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try run(["agent", "--config", path])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.err.contains("\(path):2:1: error: unknown setting \"export-fille\" (did you mean \"export-file\"?)"), r.err)
    }

    func testBadAcceptHookNamesTheWays() throws {
        let flag = try run(["agent", "--accept-hook", "sometimes"])
        XCTAssertEqual(flag.status, 2)
        XCTAssertTrue(flag.err.contains("--accept-hook: expected one of auto, fexit, handshake, syscalls, got \"sometimes\""), flag.err)
        let path = try configFile("disable-datapath: true\naccept-hook: sometimes\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try run(["agent", "--config", path])
        XCTAssertEqual(file.status, 2)
        XCTAssertTrue(file.err.contains("\(path):2:14: error: accept-hook: expected one of auto, fexit, handshake, syscalls"), file.err)
    }

    func testBadSizeAndFilterFlags() throws {
        let size = try run(["agent", "--export-file-max-size", "lots"])
        XCTAssertEqual(size.status, 2)
        XCTAssertTrue(size.err.contains("--export-file-max-size: expected a size like 10M, 64K or 1048576, got \"lots\""), size.err)
        let filter = try run(["agent", "--export-allowlist", "{\"event_sett\":[]}"])
        XCTAssertEqual(filter.status, 2)
        XCTAssertTrue(filter.err.contains("unknown filter field \"event_sett\""), filter.err)
    }

    func testNotRootExits1WithAClearMessage() throws {
        guard geteuid() == 0 else {
            // switching to nobody needs root; CI runs as root, where this must not skip
            if ProcessInfo.processInfo.environment["CI"] == "true" { return XCTFail("CI runs as root; this check switches to nobody") }
            throw XCTSkip("needs root (it switches to nobody for this check)")
        }
        let r = try run(["agent", "--export-stdout"], asUser: "nobody")
        XCTAssertEqual(r.status, 1, r.err)
        XCTAssertTrue(r.err.contains("vigil agent: needs root (it loads BPF programs); run it with sudo"), r.err)
    }
}
