import Foundation
import XCTest

@testable import AgentRuntime

/// AgentOptions is the one table of the agent's settings: every flag has a config key that
/// sets the configuration the same way, and bad values are refused the same way by both.
final class AgentOptionsTests: XCTestCase {
    /// A value each kind of option accepts, chosen per name where the option checks its value.
    private func sample(_ o: AgentOption) -> String {
        switch o.name {
        case "accept-hook": return "syscalls"
        case "export-allowlist", "export-denylist": return "{\"event_set\":[\"PROCESS_EXEC\"]}"
        case "field-filters": return "{\"fields\":\"process.cwd\",\"action\":\"EXCLUDE\"}"
        case "server-address": return "unix:///tmp/vigil-option.sock"
        case "metrics-address": return "127.0.0.1:2112"
        case "server-tcp-address": return "127.0.0.1:54321"
        case "log-level": return "debug"
        case "lock-file": return "/tmp/vigil-option.lock"
        case "enforce-pin-dir": return "/sys/fs/bpf/vigil-option"
        case "log-format": return "json"
        case "kvstore": return "etcd"
        case "kvstore-endpoints": return "https://127.0.0.1:2379,http://127.0.0.2:2379"
        case "kvstore-prefix": return "/fleet-a"
        case "node-labels": return "role=web,zone=a"
        default: break
        }
        switch o.kind {
        case .flag: return "true"
        case .value("SIZE"): return "64K"
        case .value(let v), .list(let v):
            return ["N", "SECONDS", "MS", "COUNT", "BYTES", "PORT"].contains(v) ? "7" : "/tmp/vigil-option-\(o.name)"
        }
    }

    private func fingerprint(_ c: AgentConfiguration) -> String {
        // a dictionary's dump follows its instance's iteration order: labels go in sorted
        var c = c
        let labels = c.nodeLabels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        c.nodeLabels = [:]
        var s = ""
        dump(c, to: &s)
        return s + "nodeLabels: \(labels)\n"
    }

    private func writeConfig(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-options-\(getpid())-\(UUID().uuidString.prefix(6)).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testEveryFlagHasAConfigKeyWithTheSameEffect() throws {
        let blank = fingerprint(AgentConfiguration(nodeName: "n"))
        for o in AgentOptions.all {
            let v = sample(o)
            var byFlag = AgentConfiguration(nodeName: "n")
            let argv = o.kind == .flag ? ["--\(o.name)"] : ["--\(o.name)", v]
            do { try AgentOptions.parse(argv, into: &byFlag) } catch {
                XCTFail("--\(o.name) \(v): \(error)")
                continue
            }
            var byFile = AgentConfiguration(nodeName: "n")
            let yamlValue = v.hasPrefix("{") ? "'\(v)'" : v
            let path = try writeConfig("\(o.name): \(yamlValue)\n")
            defer { try? FileManager.default.removeItem(atPath: path) }
            do { try AgentOptions.parse(["--config", path], into: &byFile) } catch {
                XCTFail("\(o.name): \(v) in a file: \(error)")
                continue
            }
            XCTAssertEqual(fingerprint(byFlag), fingerprint(byFile), "--\(o.name) and the config key \(o.name) differ")
            XCTAssertNotEqual(fingerprint(byFlag), blank, "--\(o.name) \(v) changed nothing")
        }
    }

    func testFlagsOverrideTheConfigFile() throws {
        let path = try writeConfig("node-name: from-file\nexport-file-max-backups: 3\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var c = AgentConfiguration(nodeName: "n")
        try AgentOptions.parse(["--node-name", "from-flag", "--config", path], into: &c)
        XCTAssertEqual(c.nodeName, "from-flag")
        XCTAssertEqual(c.exportFileBackups, 3)
    }

    func testHelpListsEveryOption() {
        for o in AgentOptions.all {
            XCTAssertTrue(AgentOptions.help.contains("--\(o.name)"), "help lacks --\(o.name)")
        }
    }

    func testBadValuesNameTheOptionAndWhatIsExpected() throws {
        var c = AgentConfiguration(nodeName: "n")
        XCTAssertThrowsError(try AgentOptions.parse(["--export-file-max-backups", "-1"], into: &c)) {
            XCTAssertTrue("\($0)".contains("--export-file-max-backups: expected a whole number of at least 0, got \"-1\""), "\($0)")
        }
        XCTAssertThrowsError(try AgentOptions.parse(["--export-fille", "x"], into: &c)) {
            XCTAssertTrue("\($0)".contains("unknown option --export-fille (did you mean --export-file?)"), "\($0)")
        }
        let path = try writeConfig("enable-ancestors: maybe\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertThrowsError(try AgentOptions.parse(["--config", path], into: &c)) {
            XCTAssertTrue("\($0)".contains("\(path):1:19: error: enable-ancestors: expected true or false, got \"maybe\""), "\($0)")
        }
    }

    func testAnUnknownEventTypeInAFieldFilterIsAnError() {
        var c = AgentConfiguration(nodeName: "n")
        XCTAssertThrowsError(try AgentOptions.parse(["--field-filters", #"{"event_set":["PROCESS_EXCE"],"fields":"process.cwd"}"#], into: &c)) { e in
            XCTAssertTrue("\(e)".contains("unknown event type \"PROCESS_EXCE\"; one of PROCESS_EXEC"), "\(e)")
        }
    }
}
