import Foundation
import XCTest

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

// kernel-test-host-only: the metrics endpoint and a real Prometheus: user space (the guests share two emulated cores)
/// The agent's metrics endpoint scraped by a real Prometheus server (Debian's `prometheus`,
/// started here on loopback with its own config and storage), queried through Prometheus'
/// HTTP API: series that must move do move.
final class PrometheusMetricsTests: XCTestCase {
    /// A TCP port free on 127.0.0.1 now (bound and released: the kernel does not hand it out
    /// again at once).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw KernelTest.Stop(reason: "no free port") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// A Prometheus server scraping `target` every second; stopped with the returned process.
    static func startPrometheus(target: String, directory: String) throws -> (Process, Int) {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/prometheus") else {
            XCTFail("prometheus missing: run scripts/install-deps.sh --test")
            throw KernelTest.Stop(reason: "no prometheus")
        }
        let port = try freePort()
        let config = """
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
            - job_name: vigil
              static_configs:
              - targets: ["\(target)"]
            """
        try config.write(toFile: directory + "/prometheus.yml", atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
        p.arguments = [
            "--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/tsdb", "--web.listen-address=127.0.0.1:\(port)",
            "--log.level=warn",
        ]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try p.run()
        return (p, port)
    }

    /// The value of an instant PromQL query's first sample, nil when it has none (yet).
    static func query(_ promQL: String, port: Int) -> Double? {
        var c = URLComponents(string: "http://127.0.0.1:\(port)/api/v1/query")!
        c.queryItems = [URLQueryItem(name: "query", value: promQL)]
        guard let url = c.url, let data = try? Data(contentsOf: url),
            let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let result = (json["data"] as? [String: Any])?["result"] as? [[String: Any]],
            let value = result.first?["value"] as? [Any], value.count == 2, let text = value[1] as? String
        else { return nil }
        return Double(text)
    }

    /// Polls `promQL` until `done` holds for its value (scrapes come every second).
    static func waitFor(_ promQL: String, port: Int, timeout: TimeInterval = 20, _ done: (Double) -> Bool) -> Double? {
        let deadline = Date().addingTimeInterval(timeout)
        var last: Double?
        repeat {
            last = query(promQL, port: port)
            if let v = last, done(v) { return v }
            usleep(250_000)
        } while Date() < deadline
        return last
    }

    func testPrometheusScrapesEventsAndKillCounters() throws {
        try KernelTest.require(.tracepoint)
        let dir = try KernelTest.scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: "/usr/bin/true", toPath: "\(dir)/dropper")
        let policy = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: metrics-kill
            spec:
              tracepoints:
              - subsystem: sched
                event: sched_process_exec
                selectors:
                - matchBinaries:
                  - operator: Prefix
                    values: ["\(dir)/elsewhere/"]
                  matchActions:
                  - action: Sigkill
                - matchBinaries:
                  - operator: Prefix
                    values: ["\(dir)/"]
                  matchActions:
                  - action: Sigkill
            """
        let metricsPort = try Self.freePort()
        let agent = try AgentHarness(extraArguments: ["--metrics-address", "127.0.0.1:\(metricsPort)"], policies: [policy])
        defer { agent.stop() }
        let (prometheus, port) = try Self.startPrometheus(target: "127.0.0.1:\(metricsPort)", directory: dir)
        defer {
            prometheus.terminate()
            prometheus.waitUntilExit()
        }

        XCTAssertEqual(Self.waitFor(#"up{job="vigil"}"#, port: port, timeout: 30) { $0 == 1 }, 1, "Prometheus never scraped the agent")
        XCTAssertEqual(Self.waitFor("vigil_agent_ready", port: port) { $0 == 1 }, 1)
        XCTAssertEqual(Self.waitFor(#"vigil_tracingpolicy_loaded{state="enabled"}"#, port: port) { $0 == 1 }, 1)

        // an exec moves the exec counter
        let before = try XCTUnwrap(Self.waitFor(#"vigil_events_total{type="PROCESS_EXEC"}"#, port: port) { $0 > 0 }, "no exec counter")
        for _ in 0..<5 { _ = try KernelTest.run("/usr/bin/true", []) }
        let after = Self.waitFor(#"vigil_events_total{type="PROCESS_EXEC"}"#, port: port) { $0 >= before + 5 }
        XCTAssertGreaterThanOrEqual(after ?? 0, before + 5, "five execs, the exec counter went from \(before) to \(after ?? -1)")

        // a kill moves the policy's action counter (enforce mode)
        let killed = try KernelTest.run("/bin/sh", ["-c", "\(dir)/dropper; exit $?"])
        XCTAssertEqual(killed.status, 137, "the dropper is killed")
        let actions = Self.waitFor(#"sum(vigil_policy_actions_total{policy="metrics-kill",mode="enforce"})"#, port: port) { $0 >= 1 }
        XCTAssertGreaterThanOrEqual(actions ?? 0, 1, "the kill is not counted")
        // by the selector that killed (the second), not the first
        let bySelector = Self.waitFor(#"sum(vigil_policy_selector_actions_total{policy="metrics-kill",selector="1"})"#, port: port) { $0 >= 1 }
        XCTAssertGreaterThanOrEqual(bySelector ?? 0, 1, "the kill is counted for selector 1")
        XCTAssertEqual(Self.query(#"sum(vigil_policy_selector_actions_total{policy="metrics-kill",selector="0"})"#, port: port), 0, "selector 0 killed nothing")
        XCTAssertNotNil(Self.query(#"vigil_process_cache_misses_total"#, port: port), "process cache misses")
        // the process table's filling: some entries (this test's processes at least), below its capacity
        let entries = Self.waitFor(#"vigil_map_entries{map="processes"}"#, port: port) { $0 > 0 } ?? 0
        let capacity = Self.query(#"vigil_map_capacity{map="processes"}"#, port: port) ?? 0
        XCTAssertGreaterThan(entries, 0, "the process table holds entries")
        XCTAssertGreaterThan(capacity, entries, "capacity \(capacity), entries \(entries)")
        let posted = Self.waitFor(#"sum(vigil_policy_events_total{policy="metrics-kill"})"#, port: port) { $0 >= 1 }
        XCTAssertGreaterThanOrEqual(posted ?? 0, 1)
        XCTAssertNotNil(Self.query(#"vigil_build_info"#, port: port), "build info")
    }

    func testHealthEndpointsAndABadAddress() throws {
        try KernelTest.require(.tracepoint)
        let port = try Self.freePort()
        let agent = try AgentHarness(extraArguments: ["--metrics-address", "127.0.0.1:\(port)"])
        defer { agent.stop() }
        for (path, expected) in [("/healthz", 200), ("/readyz", 200), ("/nothing", 404)] {
            let done = DispatchSemaphore(value: 0)
            nonisolated(unsafe) var status = 0
            URLSession.shared.dataTask(with: URL(string: "http://127.0.0.1:\(port)\(path)")!) { _, r, _ in
                status = (r as? HTTPURLResponse)?.statusCode ?? -1
                done.signal()
            }.resume()
            done.wait()
            XCTAssertEqual(status, expected, path)
        }
        // a port already taken: the second agent says so and stops
        let second = try AgentHarness(extraArguments: ["--metrics-address", "127.0.0.1:\(port)"], expectFailure: true)
        XCTAssertEqual(second.process.terminationStatus, 1)
        XCTAssertTrue(second.stderrText().contains("--metrics-address 127.0.0.1:\(port): cannot listen"), second.stderrText())
    }
}
