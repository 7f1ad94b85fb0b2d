import Datapath
import Foundation
import XCTest

// kernel-test-host-only: suggestions from flow history: user space over the host's datapath; DatapathTests shows 6.1's legacy tc attach (the guests share two emulated cores)
/// `vigil netpolicy suggest` on a recorded scenario in a real kernel: endpoints talk with no
/// policy, the suggestion is applied as is, then every observed flow still connects and flows
/// nobody observed are dropped.
final class DatapathSuggestTests: XCTestCase {
    func testSuggestedPoliciesAllowWhatWasObservedAndDropTheRest() throws {
        let f = try EndpointFixture([
            ("frontend", ["app": "frontend"]), ("frontend2", ["app": "frontend"]), ("backend", ["app": "backend"]), ("db", ["app": "db"]),
        ])
        defer { f.remove() }
        let metricsPort = try PrometheusMetricsTests.freePort()
        let agent = try f.startAgent(extraArguments: ["--metrics-address", "127.0.0.1:\(metricsPort)"])
        var listeners: [Int32] = []
        defer { for l in listeners { close(l) } }
        for (ep, p) in [("backend", UInt16(8080)), ("db", 5432), ("frontend2", 9000), ("backend", 9999), ("db", 8080)] {
            listeners.append(try f.listen(in: ep, port: p))
        }
        let observed: [(String, String, UInt16)] = [
            ("frontend", "backend", 8080), ("frontend2", "backend", 8080), ("backend", "db", 5432), ("frontend", "frontend2", 9000),
        ]
        // no policy yet: everything connects (and is recorded)
        for (from, to, port) in observed {
            close(try XCTUnwrap(try f.connect(from: from, to: f.address(to), port: port), "\(from) -> \(to):\(port) before any policy"))
        }
        _ = try agent.waitForAll { all in
            let ingress = all.compactMap { $0["flow"] as? [String: Any] }.filter {
                $0["traffic_direction"] as? String == "INGRESS" && $0["flow_type"] as? String == "NEW"
            }
            return ingress.count >= observed.count
        }

        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vigil").path
        let out = f.directory + "/suggested.yaml"
        let r = try KernelTest.run(exe, ["netpolicy", "suggest", "--file", agent.exportPath, "--since", "10m", "--output", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("would drop 0 of the observed forwarded or audited flows"), r.stderr)
        XCTAssertTrue(r.stderr.contains("default/suggested-backend spec.ingress"), r.stderr)
        let yaml = try String(contentsOfFile: out, encoding: .utf8)
        // applied as is, through the same command a team would use
        let apply = try KernelTest.run(exe, ["netpolicy", "apply", out, "--dir", f.policyDirectory])
        XCTAssertEqual(apply.status, 0, apply.stderr + yaml)
        try f.waitForRevision { s in ((s["policies"] as? [[String: Any]]) ?? []).count >= 3 }
        // enforcement starts: a flow nobody observed is dropped (polled: applied within a second)
        let deadline = Date().addingTimeInterval(5)
        var enforced = false
        while Date() < deadline && !enforced {
            if let fd = try f.connect(from: "frontend", to: f.address("db"), port: 5432, timeout: 0.3) { close(fd) } else { enforced = true }
        }
        XCTAssertTrue(enforced, "frontend -> db:5432 was never observed: dropped\n\(yaml)")
        for (from, to, port) in observed {
            let fd = try f.connect(from: from, to: f.address(to), port: port, timeout: 2)
            XCTAssertNotNil(fd, "\(from) -> \(to):\(port) was observed: still allowed\n\(yaml)")
            if let fd { close(fd) }
        }
        XCTAssertNil(try f.connect(from: "frontend", to: f.address("backend"), port: 9999, timeout: 0.5), "an unobserved port of an observed peer")
        XCTAssertNil(try f.connect(from: "backend", to: f.address("db"), port: 8080, timeout: 0.5), "an observed pair on another port")

        // exposure under the applied policies: who may reach each port against who connected
        func exposure() throws -> [[String: Any]] {
            let r = try KernelTest.run(
                exe,
                ["netpolicy", "exposure", "--dir", f.policyDirectory, "--status-file", f.directory + "/datapath.json", "--file", agent.exportPath, "--json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            return r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
        let backend = "default/\(f.records["backend"]!.name)"
        let db = "default/\(f.records["db"]!.name)"
        var rows = try exposure()
        let b8080 = try XCTUnwrap(rows.first { $0["endpoint"] as? String == backend && $0["port"] as? String == "TCP/8080" }, "\(rows)")
        XCTAssertTrue((b8080["reachable_from"] as? [String] ?? []).contains("app=frontend"), "\(b8080)")
        XCTAssertTrue((b8080["connected_from"] as? [String] ?? []).contains("app=frontend"), "\(b8080)")
        XCTAssertFalse(rows.contains { $0["world_reachable"] as? Bool == true }, "the suggestion exposes nothing to the world: \(rows)")
        // a rule opening db:5432 to the world that nobody uses is the first thing reported
        try f.write(
            policy: "open.yaml",
            """
            apiVersion: cilium.io/v2
            kind: CiliumNetworkPolicy
            metadata: {name: db-open}
            spec:
              endpointSelector: {matchLabels: {app: db}}
              ingress:
              - fromEntities: [world]
                toPorts: [{ports: [{port: "5432", protocol: TCP}]}]
            """)
        try f.waitForRevision { s in ((s["policies"] as? [[String: Any]]) ?? []).contains { $0["name"] as? String == "default/db-open" } }
        rows = try exposure()
        let first = try XCTUnwrap(rows.first)
        XCTAssertEqual(first["endpoint"] as? String, db, "\(rows)")
        XCTAssertEqual(first["port"] as? String, "TCP/5432")
        XCTAssertEqual(first["world_reachable"] as? Bool, true)
        XCTAssertTrue((first["unused"] as? [String] ?? []).contains("world"), "\(first)")
        XCTAssertTrue((first["connected_from"] as? [String] ?? []).contains("app=backend"), "\(first)")

        // the same numbers as Prometheus metrics, from the agent's own window
        let series = "{endpoint=\"\(db)\",port=\"TCP/5432\"}"
        var metrics = ""
        let until = Date().addingTimeInterval(20)
        while Date() < until && !metrics.contains("vigil_exposure_world_unused\(series) 1") {
            metrics = (try? KernelTest.run("/usr/bin/curl", ["-s", "http://127.0.0.1:\(metricsPort)/metrics"]).stdout) ?? ""
            usleep(250_000)
        }
        XCTAssertTrue(
            metrics.contains("vigil_exposure_world_unused\(series) 1"),
            metrics.split(separator: "\n").filter { $0.contains("exposure") }.joined(separator: "\n"))
        XCTAssertTrue(metrics.contains("vigil_exposure_unused_peers\(series) "), metrics)
        let connections = metrics.split(separator: "\n").first { $0.hasPrefix("vigil_exposure_connections\(series) ") }
        XCTAssertNotNil(
            connections.flatMap { Double($0.split(separator: " ").last ?? "") }.map { $0 >= 1 },
            "backend's connections to db:5432 counted: \(connections ?? "none")")
        XCTAssertFalse(metrics.contains("vigil_exposure_world_unused{endpoint=\"\(backend)\",port=\"TCP/8080\"} 1"), "backend:8080 is not open to the world")

        // the service map of what happened: allowed and dropped edges, drawn by Graphviz
        let svg = f.directory + "/map.svg"
        let m = try KernelTest.run(exe, ["flows", "--file", agent.exportPath, "--map", svg, "--since", "10m"])
        XCTAssertEqual(m.status, 0, m.stderr)
        let picture = (try? String(contentsOfFile: svg, encoding: .utf8)) ?? ""
        XCTAssertTrue(picture.contains("<svg") && picture.contains("app=backend") && picture.contains("TCP/8080 x4 forwarded"), picture)
        XCTAssertTrue(
            picture.contains("TCP/5432 x1 dropped"),
            "the dropped frontend -> db attempt is an edge of its own (the observed 8080 pairs connected twice each: before and after the policy)\n\(picture)")
        let png = f.directory + "/map.png"
        XCTAssertEqual(try KernelTest.run(exe, ["flows", "--file", agent.exportPath, "--map", png]).status, 0)
        XCTAssertEqual(FileManager.default.contents(atPath: png)?.prefix(4), Data([0x89, 0x50, 0x4e, 0x47]), "a PNG")
        let badMap = try KernelTest.run(exe, ["flows", "--file", agent.exportPath, "--map", f.directory + "/map.jpg"])
        XCTAssertNotEqual(badMap.status, 0)
        XCTAssertTrue(badMap.stderr.contains("name a .svg, .png or .dot file"), badMap.stderr)

        // bad input: a file without flows, a malformed duration
        let empty = f.directory + "/empty.json"
        FileManager.default.createFile(atPath: empty, contents: Data("{\"process_exec\":{}}\n".utf8))
        let none = try KernelTest.run(exe, ["netpolicy", "suggest", "--file", empty])
        XCTAssertEqual(none.status, 1)
        XCTAssertTrue(none.stderr.contains("no flows in \(empty)"), none.stderr)
        let badSince = try KernelTest.run(exe, ["netpolicy", "suggest", "--file", agent.exportPath, "--since", "ten"])
        XCTAssertNotEqual(badSince.status, 0)
        XCTAssertTrue(badSince.stderr.contains("--since \"ten\""), badSince.stderr)
    }
}
