import BPFKit
import BPFTestObjects
import Foundation

/// `vigil-bench suite`: every workload under every configuration, interleaved round by round,
/// one table and a JSON file. Workload on CPU 0, agents and bpftrace on CPU 1.
///
/// Configurations, each against the same workload in the same round:
///   none           nothing attached
///   floor          an empty program on the workload's own tracepoint (the kernel's floor)
///   floor+ring     the same writing a 64-byte ring-buffer record per event
///   vigil          the agent with its base sensors (process, network), no policy
///   vigil+nomatch  the agent with a policy on the workload's hook that never matches
///   vigil+match    the agent with a policy that posts every event (emission cost)
///   bpftrace       bpftrace 0.17 with the equivalent probe and non-matching filter
struct SuiteWorkload {
    var name: String
    /// The tracepoint the floor programs attach to.
    var hook: (category: String, event: String)
    var iterations: Int
    /// Runs `n` operations; ns per operation.
    var run: (Int) -> Double
    var nomatchPolicy: String
    var matchPolicy: String
    var bpftrace: String
}

struct SuiteResult: Codable {
    var workload: String
    var config: String
    var medianNs: Double
    var minNs: Double
    var maxNs: Double
    var samplesNs: [Double]
    /// Added over `none` (median minus median).
    var addedNs: Double
    /// added / the floor's added (nil for none and floor).
    var vsFloor: Double?
}

struct SuiteReport: Codable {
    var date: String
    var kernel: String
    var cpus: Int
    var rounds: Int
    var results: [SuiteResult]
}

func policyYAML(_ name: String, _ body: String) -> String {
    "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: \(name)}\nspec:\n" + body
}

func suiteWorkloads(scale: Double, openFile: String) -> [SuiteWorkload] {
    func n(_ base: Int) -> Int { max(1, Int(Double(base) * scale)) }
    let connectPort = startAcceptor()
    return [
        SuiteWorkload(
            name: "getppid", hook: ("syscalls", "sys_enter_getppid"), iterations: n(500_000),
            run: { count in
                let t = now()
                for _ in 0..<count { _ = getppid() }
                return Double(now() - t) / Double(count)
            },
            nomatchPolicy: policyYAML(
                "bench-nomatch",
                """
                  tracepoints:
                  - subsystem: syscalls
                    event: sys_enter_getppid
                    selectors:
                    - matchBinaries: [{operator: In, values: ["/nonexistent/vigil-bench"]}]
                """),
            matchPolicy: policyYAML(
                "bench-match",
                """
                  tracepoints:
                  - subsystem: syscalls
                    event: sys_enter_getppid
                """),
            bpftrace: "tracepoint:syscalls:sys_enter_getppid /comm == \"vigil-nomatch\"/ { @c = count(); }"),
        SuiteWorkload(
            name: "open+close", hook: ("syscalls", "sys_enter_openat"), iterations: n(200_000),
            run: { openLoop($0, path: openFile) },
            nomatchPolicy: fimPolicy.replacingOccurrences(of: "bench-fim", with: "bench-nomatch"),
            matchPolicy: policyYAML(
                "bench-match",
                """
                  tracepoints:
                  - subsystem: syscalls
                    event: sys_enter_openat
                    args: [{index: 6, type: string}]
                    selectors:
                    - matchArgs: [{index: 0, operator: Prefix, values: ["\(openFile)"]}]
                """),
            bpftrace: bpftraceProgram),
        SuiteWorkload(
            name: "fork+exec", hook: ("sched", "sched_process_exec"), iterations: n(1_000),
            run: { spawnLoop($0) },
            nomatchPolicy: policyYAML(
                "bench-nomatch",
                """
                  tracepoints:
                  - subsystem: sched
                    event: sched_process_exec
                    selectors:
                    - matchBinaries: [{operator: In, values: ["/nonexistent/vigil-bench"]}]
                """),
            matchPolicy: policyYAML(
                "bench-match",
                """
                  tracepoints:
                  - subsystem: sched
                    event: sched_process_exec
                """),
            bpftrace: "tracepoint:sched:sched_process_exec /comm == \"vigil-nomatch\"/ { @c = count(); }"),
        SuiteWorkload(
            name: "tcp connect+close", hook: ("sock", "inet_sock_set_state"), iterations: n(10_000),
            run: { connectLoop($0, port: connectPort) },
            nomatchPolicy: policyYAML(
                "bench-nomatch",
                """
                  lsmhooks:
                  - hook: socket_connect
                    args: [{index: 1, type: sockaddr}]
                    selectors:
                    - matchArgs: [{index: 1, operator: DPort, values: ["1"]}]
                """),
            matchPolicy: policyYAML(
                "bench-match",
                """
                  lsmhooks:
                  - hook: socket_connect
                    args: [{index: 1, type: sockaddr}]
                """),
            bpftrace: "tracepoint:sock:inet_sock_set_state /args->dport == 1/ { @c = count(); }"),
    ]
}

/// Runs `body` with bpftrace running `program` on CPU 1 (nil when bpftrace is missing or fails).
func withBpftrace(_ program: String, _ body: () -> Double) -> Double? {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/bpftrace") else { return nil }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
    p.arguments = ["-c", "1", "/usr/bin/bpftrace", "-e", program]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return nil }
    if out.fileHandleForReading.availableData.isEmpty { return nil }  // "Attaching N probes..." once attached
    usleep(200_000)
    let t = body()
    kill(p.processIdentifier, SIGINT)
    p.waitUntilExit()
    return t
}

/// Runs `body` with a floor program (`floor_empty` or `floor_ringbuf`) on the tracepoint.
func withFloor(_ program: String, on hook: (category: String, event: String), _ body: () -> Double) -> Double? {
    do {
        let object = try BPFObject(bytes: BPFTestObjects.object(named: "floor")!, name: "floor")
        try object.keepOnly(programs: [program])
        try object.load()
        let link = try object.program(program).attachTracepoint(category: hook.category, name: hook.event)
        defer { link.close() }
        return body()
    } catch {
        print("  floor \(program) on \(hook.category)/\(hook.event): \(error)")
        return nil
    }
}

func suite(rounds: Int, scale: Double, jsonPath: String) {
    guard geteuid() == 0 else {
        print("suite needs root (it loads programs and runs the agent)")
        exit(1)
    }
    pin(cpu: 0)
    let openFile = "/tmp/vigil-bench-open-\(getpid())"
    FileManager.default.createFile(atPath: openFile, contents: Data("x".utf8))
    defer { try? FileManager.default.removeItem(atPath: openFile) }
    let workloads = suiteWorkloads(scale: scale, openFile: openFile)
    let configs = ["none", "floor", "floor+ring", "vigil", "vigil+nomatch", "vigil+match", "bpftrace"]
    var samples: [String: [String: [Double]]] = [:]
    let export = "/tmp/vigil-bench-suite-\(getpid()).json"
    let policyPath = "/tmp/vigil-bench-suite-\(getpid()).yaml"
    defer {
        try? FileManager.default.removeItem(atPath: export)
        try? FileManager.default.removeItem(atPath: policyPath)
    }
    for w in workloads { _ = w.run(max(1, w.iterations / 10)) }  // warm up
    withBPFStats(false) {
        for round in 0..<rounds {
            FileHandle.standardError.write(Data("suite: round \(round + 1) of \(rounds)\n".utf8))
            for w in workloads {
                for c in configs {
                    let t: Double?
                    switch c {
                    case "none": t = w.run(w.iterations)
                    case "floor": t = withFloor("floor_empty", on: w.hook) { w.run(w.iterations) }
                    case "floor+ring": t = withFloor("floor_ringbuf", on: w.hook) { w.run(w.iterations) }
                    case "bpftrace": t = withBpftrace(w.bpftrace) { w.run(w.iterations) }
                    default:
                        var extra: [String] = []
                        if c != "vigil" {
                            try! (c == "vigil+match" ? w.matchPolicy : w.nomatchPolicy).write(toFile: policyPath, atomically: true, encoding: .utf8)
                            extra = ["--policy", policyPath]
                        }
                        try? FileManager.default.removeItem(atPath: export)
                        let agent = startAgent(export: export, extra: extra)
                        t = agent.isRunning ? w.run(w.iterations) : nil
                        kill(agent.processIdentifier, SIGINT)
                        agent.waitUntilExit()
                    }
                    if let t { samples[w.name, default: [:]][c, default: []].append(t) }
                }
            }
        }
    }
    var results: [SuiteResult] = []
    print(
        "vigil-bench suite: \(rounds) rounds, interleaved; workload on CPU 0, agents and bpftrace on CPU 1; kernel.bpf_stats_enabled=0; ns per operation (median, min-max)"
    )
    func pad(_ x: String, _ w: Int) -> String { x.count >= w ? x : x + String(repeating: " ", count: w - x.count) }
    func lpad(_ x: String, _ w: Int) -> String { x.count >= w ? x : String(repeating: " ", count: w - x.count) + x }
    print(pad("workload", 18) + pad("config", 15) + lpad("median", 10) + lpad("min - max", 22) + lpad("added", 10) + lpad("vs floor", 10))
    for w in workloads {
        guard let base = samples[w.name]?["none"].map(median) else { continue }
        let floorAdded = samples[w.name]?["floor"].map { median($0) - base }
        for c in configs {
            guard let xs = samples[w.name]?[c], !xs.isEmpty else {
                print(pad(w.name, 18) + pad(c, 15) + lpad("n/a", 10))
                continue
            }
            let m = median(xs)
            let added = m - base
            let vsFloor = (c == "none" || c == "floor") ? nil : floorAdded.flatMap { $0 > 0 ? added / $0 : nil }
            results.append(
                SuiteResult(workload: w.name, config: c, medianNs: m, minNs: xs.min()!, maxNs: xs.max()!, samplesNs: xs, addedNs: added, vsFloor: vsFloor))
            print(
                pad(w.name, 18) + pad(c, 15) + lpad(String(format: "%.0f", m), 10)
                    + lpad(String(format: "%.0f - %.0f", xs.min()!, xs.max()!), 22) + lpad(String(format: "%+.0f", added), 10)
                    + lpad(vsFloor.map { String(format: "%.2fx", $0) } ?? "-", 10))
        }
    }
    let report = SuiteReport(
        date: ISO8601DateFormatter().string(from: Date()), kernel: ProcessInfo.processInfo.operatingSystemVersionString,
        cpus: ProcessInfo.processInfo.activeProcessorCount, rounds: rounds, results: results)
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    if let data = try? enc.encode(report), (try? data.write(to: URL(fileURLWithPath: jsonPath))) != nil {
        print("results: \(jsonPath)")
    }
}
