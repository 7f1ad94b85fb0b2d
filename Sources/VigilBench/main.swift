import Foundation
import PolicyYAML

// vigil-bench: benchmarks that print figures (never part of the test suite).
//   swift run -c release vigil-bench policy-parse [DIR]
// Results and the command are recorded in BENCHMARKS.md.

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s[s.count / 2]
}

/// A 90% interval for the median of `xs` (percentile bootstrap, 2,000 resamples, fixed seed so
/// a run's figures can be re-derived): how far this machine's round-to-round noise lets the
/// median be trusted.
func medianInterval(_ xs: [Double]) -> (low: Double, high: Double) {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    func next() -> Int {  // xorshift64*: reproducible, no Foundation randomness
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return Int((state &* 2_685_821_657_736_338_717) >> 33)
    }
    var medians: [Double] = []
    for _ in 0..<2000 { medians.append(median((0..<xs.count).map { _ in xs[next() % xs.count] })) }
    medians.sort()
    return (medians[medians.count * 5 / 100], medians[medians.count * 95 / 100])
}

/// Parse + validate every policy under DIR, many rounds; baseline: reading the same bytes.
func policyParse(_ dir: String) {
    var files: [(String, [UInt8])] = []
    let walker = FileManager.default.enumerator(atPath: dir)
    while let rel = walker?.nextObject() as? String {
        guard rel.hasSuffix(".yaml") || rel.hasSuffix(".yml") else { continue }
        let path = dir + "/" + rel
        if let d = FileManager.default.contents(atPath: path) { files.append((path, [UInt8](d))) }
    }
    files.sort { $0.0 < $1.0 }
    guard !files.isEmpty else {
        print("no policies under \(dir)")
        exit(1)
    }
    var parse: [Double] = []
    var load: [Double] = []
    var policies = 0
    for round in 0..<31 {
        var t = now()
        for (path, _) in files { _ = FileManager.default.contents(atPath: path) }
        load.append(Double(now() - t) / 1e6)
        t = now()
        var n = 0
        for (path, bytes) in files {
            let r = PolicyLoader.parse(bytes, file: path)
            if !r.isValid {
                print("invalid: \(path)")
                exit(1)
            }
            n += r.policies.count
        }
        parse.append(Double(now() - t) / 1e6)
        if round == 0 { policies = n }
    }
    print("policy-parse: \(files.count) files, \(policies) policies, 31 rounds")
    print(String(format: "  parse+validate (in memory): median %.2f ms  min %.2f  max %.2f  (target < 50 ms)", median(parse), parse.min()!, parse.max()!))
    print(String(format: "  baseline, reading the files:  median %.2f ms", median(load)))
    print(String(format: "  per policy: %.1f us", median(parse) * 1000 / Double(policies)))
}

/// Re-runs this benchmark under `taskset -c CPU` once, so the workload owns one CPU and
/// the agent (pinned to the other) never competes with it.
func pin(cpu: Int32) {
    guard ProcessInfo.processInfo.environment["VIGIL_BENCH_PINNED"] == nil else { return }
    setenv("VIGIL_BENCH_PINNED", "1", 1)
    var argv: [UnsafeMutablePointer<CChar>?] = (["/usr/bin/taskset", "-c", String(cpu)] + CommandLine.arguments).map { strdup($0) } + [nil]
    execv("/usr/bin/taskset", &argv)
    print("taskset not found: run pinned by hand")
}

/// fork+exec+wait of /bin/true `n` times; returns ns per spawn.
func spawnLoop(_ n: Int) -> Double {
    var argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
    defer { free(argv[0]) }
    let t = now()
    for _ in 0..<n {
        var pid: pid_t = 0
        guard posix_spawn(&pid, "/bin/true", nil, nil, &argv, environ) == 0 else { fatalError("posix_spawn failed") }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
    return Double(now() - t) / Double(n)
}

/// Starts `vigil agent` (the release binary next to this one) pinned to CPU 1.
func startAgent(export: String, extra: [String] = []) -> Process {
    let exe = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("vigil")
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
    // VIGIL_BENCH_AGENT_ARGS: extra agent flags, to compare configurations (e.g. --disable-datapath)
    let more = (ProcessInfo.processInfo.environment["VIGIL_BENCH_AGENT_ARGS"] ?? "").split(separator: " ").map(String.init)
    // VIGIL_BENCH_SUBSCRIBERS=N: N live GetEvents streams (`vigil getevents`, reading every
    // event) beside the export, to measure what subscribers cost the hot path
    let subscribers = Int(ProcessInfo.processInfo.environment["VIGIL_BENCH_SUBSCRIBERS"] ?? "") ?? 0
    let socket = "unix://" + export + ".sock"
    p.arguments =
        [
            "-c", "1", exe.path, "agent", "--export-file", export, "--export-file-max-size", "512M",
            "--status-file", export + ".status", "--server-address", subscribers > 0 ? socket : "", "--lock-file", export + ".lock", "--enforce-pin-dir", "",
            "--exit-with-parent",
        ] + extra + more
    p.standardError = FileHandle.nullDevice
    try! p.run()
    // Ready when the /proc seeding shows up in the export.
    // Up to a minute: the qemu guests' emulated CPUs start the agent slowly.
    for _ in 0..<1200
    where ((try? FileManager.default.attributesOfItem(atPath: export)[.size] as? Int) ?? 0) == 0
        || !FileManager.default.fileExists(atPath: export + ".status")
    { usleep(50_000) }
    usleep(300_000)
    for _ in 0..<subscribers {
        // on CPU 0, beside the load generator: the agent keeps CPU 1; they end with its streams
        let c = Process()
        c.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
        c.arguments = ["-c", "0", exe.path, "getevents", "--server-address", socket]
        c.standardOutput = FileHandle.nullDevice
        c.standardError = FileHandle.nullDevice
        try! c.run()
    }
    if subscribers > 0 { usleep(500_000) }
    return p
}

func rssKB(_ pid: Int32) -> Int {
    guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
    }
    return 0
}

/// Runs `body` with kernel.bpf_stats_enabled set to `on`, then puts the old value back.
/// Overhead figures are taken with it off, the kernel's default: with it on, every BPF
/// program run (the floor's, Vigil's and bpftrace's alike) also pays two clock reads.
func withBPFStats<T>(_ on: Bool, _ body: () -> T) -> T {
    let path = "/proc/sys/kernel/bpf_stats_enabled"
    let old = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "0"
    try? (on ? "1" : "0").write(toFile: path, atomically: false, encoding: .utf8)
    defer { try? old.write(toFile: path, atomically: false, encoding: .utf8) }
    return body()
}

/// run_time_ns and run_cnt of the programs whose names start with `prefix` (the process
/// sensor's by default), summed by name (kernel.bpf_stats_enabled=1).
func bpfStats(prefix: String = "process_") -> [String: (ns: UInt64, count: UInt64)] {
    try? "1".write(toFile: "/proc/sys/kernel/bpf_stats_enabled", atomically: false, encoding: .utf8)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/sbin/bpftool")
    p.arguments = ["prog", "show", "--json"]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return [:] }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    var stats: [String: (UInt64, UInt64)] = [:]
    for prog in (try? JSONSerialization.jsonObject(with: data) as? [[String: Any]]) ?? [] {
        guard let name = prog["name"] as? String, name.hasPrefix(prefix) else { continue }
        let ns = (prog["run_time_ns"] as? NSNumber)?.uint64Value ?? 0
        let cnt = (prog["run_cnt"] as? NSNumber)?.uint64Value ?? 0
        let old = stats[name] ?? (0, 0)
        stats[name] = (old.0 + ns, old.1 + cnt)
    }
    return stats
}

/// Agent off vs on, interleaved, same run: spawn cost, agent RSS, JSON event sizes.
func execOverhead(rounds: Int, spawns: Int) {
    guard geteuid() == 0 else {
        print("exec-overhead needs root (it runs the agent)")
        exit(1)
    }
    pin(cpu: 0)
    withBPFStats(false) { execOverheadRounds(rounds: rounds, spawns: spawns) }  // the machine's setting back at the end
}

func execOverheadRounds(rounds: Int, spawns: Int) {
    _ = spawnLoop(200)  // warm up
    var off: [Double] = []
    var on: [Double] = []
    var rssIdle: [Int] = []
    var rssBusy: [Int] = []
    var agentCPU: [Double] = []  // ns of agent CPU time (user + system) per spawn, timed loops
    var kernelCost: (nsPerSpawn: Double, detail: String)? = nil
    // VIGIL_BENCH_EXPORT_DIR: where the agent writes (default /tmp, a disk here; a tmpfs
    // takes the page cache's writeback out of the figure)
    let exportDir = ProcessInfo.processInfo.environment["VIGIL_BENCH_EXPORT_DIR"] ?? "/tmp"
    let export = "\(exportDir)/vigil-bench-\(getpid()).json"
    // The order alternates: odd rounds measure with the agent first and without it after the
    // agent has stopped (and settled as long as it did after starting), so whatever drifts
    // within a round (startup's leftovers, the export file's writeback) falls on both sides.
    var offFirst: [Bool] = []
    for round in 0..<rounds {
        let agentFirst = round % 2 == 1
        offFirst.append(!agentFirst)
        if !agentFirst { off.append(withBPFStats(false) { spawnLoop(spawns) }) }
        try? FileManager.default.removeItem(atPath: export)
        let agent = startAgent(export: export)
        usleep(1_000_000)
        rssIdle.append(rssKB(agent.processIdentifier))
        // timed with kernel.bpf_stats_enabled=0 (its clock reads would add to every program
        // run); the kernel-side cost from a shorter loop after it, with stats on
        let cpuBefore = cpuNs(agent.processIdentifier)
        on.append(withBPFStats(false) { spawnLoop(spawns) })
        agentCPU.append((cpuNs(agent.processIdentifier) - cpuBefore) / Double(spawns))
        let before = bpfStats()
        _ = spawnLoop(max(spawns / 4, 1))
        let after = bpfStats()
        var total = 0.0
        var parts: [String] = []
        for (name, a) in after.sorted(by: { $0.key < $1.key }) {
            let b = before[name] ?? (0, 0)
            guard a.count > b.count else { continue }
            let perCall = Double(a.ns - b.ns) / Double(a.count - b.count)
            total += Double(a.ns - b.ns) / Double(max(spawns / 4, 1))
            parts.append(String(format: "%@ %.0f ns", name, perCall))
        }
        if !parts.isEmpty { kernelCost = (total, " (per call: " + parts.joined(separator: ", ") + ")") }
        rssBusy.append(rssKB(agent.processIdentifier))
        kill(agent.processIdentifier, SIGINT)
        agent.waitUntilExit()
        if agentFirst {
            usleep(1_000_000)
            off.append(withBPFStats(false) { spawnLoop(spawns) })
        }
    }
    var sizes: [Int] = []
    if let text = try? String(contentsOfFile: export, encoding: .utf8) {
        for line in text.split(separator: "\n") where line.hasPrefix("{\"process_exec\"") || line.hasPrefix("{\"process_exit\"") {
            sizes.append(line.utf8.count + 1)
        }
    }
    try? FileManager.default.removeItem(atPath: export)
    let mOff = median(off)
    let mOn = median(on)
    let paired = zip(on, off).map { $0 / $1 }
    print(
        "exec-overhead: fork+exec+wait of /bin/true, \(rounds) rounds x \(spawns) spawns, interleaved off/on (order alternating by round); workload on CPU 0, agent on CPU 1"
    )
    print(String(format: "  agent off: median %.1f us/spawn (min %.1f, max %.1f)", mOff / 1000, off.min()! / 1000, off.max()! / 1000))
    print(String(format: "  agent on:  median %.1f us/spawn (min %.1f, max %.1f)", mOn / 1000, on.min()! / 1000, on.max()! / 1000))
    let interval = medianInterval(paired)
    print(
        String(
            format: "  overhead: %+.2f%% (medians), %+.2f%% (median of per-round on/off ratios; 90%% interval %+.2f%% .. %+.2f%%)  (target <= +1%%)",
            (mOn / mOff - 1) * 100, (median(paired) - 1) * 100, (interval.low - 1) * 100, (interval.high - 1) * 100))
    let byOrder = { (first: Bool) in zip(paired, offFirst).filter { $0.1 == first }.map(\.0) }
    if rounds >= 2 {
        print(
            String(
                format: "  by order: %+.2f%% in rounds measured without the agent first, %+.2f%% with the agent first",
                (median(byOrder(true)) - 1) * 100, (median(byOrder(false)) - 1) * 100))
    }
    if let k = kernelCost {
        print(
            String(
                format: "  kernel-side cost (bpf_stats): %.2f us per spawn in the sensor's programs = %.2f%% of a spawn%@",
                k.nsPerSpawn / 1000, k.nsPerSpawn / mOff * 100, k.detail))
    }
    print(
        String(
            format: "  agent CPU (user + system, on CPU 1): median %.1f us per spawn (%.1f%% of a CPU at this rate)",
            median(agentCPU) / 1000, median(agentCPU) / mOn * 100))
    print(
        "  agent RSS: idle median \(median(rssIdle.map(Double.init)) / 1024) MiB, after the loop \(median(rssBusy.map(Double.init)) / 1024) MiB (target idle <= 40 MiB)"
    )
    if !sizes.isEmpty {
        print(
            "  JSON event size (exec+exit lines of the last round): median \(median(sizes.map(Double.init))) bytes, max \(sizes.max()!) (target median <= 1.5 KB)"
        )
    }
}

let args = CommandLine.arguments.dropFirst()
switch args.first {
case "exec-overhead":
    execOverhead(rounds: Int(args.dropFirst().first ?? "") ?? 5, spawns: Int(args.dropFirst(2).first ?? "") ?? 2000)
case "suite":
    // vigil-bench suite [ROUNDS] [SCALE] [JSON]
    suite(
        rounds: Int(args.dropFirst().first ?? "") ?? 5, scale: Double(args.dropFirst(2).first ?? "") ?? 1,
        jsonPath: args.dropFirst(3).first ?? "vigil-bench-suite.json")
case "throughput":
    // vigil-bench throughput [SECONDS] [CONFIRM_SECONDS] [RATES] [JSON]
    let rates = (args.dropFirst(3).first ?? "50000,100000,200000,300000,400000,600000,800000").split(separator: ",").compactMap { Int($0) }
    throughput(
        rates: rates, seconds: Double(args.dropFirst().first ?? "") ?? 5, confirmSeconds: Double(args.dropFirst(2).first ?? "") ?? 30,
        jsonPath: args.dropFirst(4).first ?? "vigil-bench-throughput.json")
case "connect-overhead":
    connectOverhead(rounds: Int(args.dropFirst().first ?? "") ?? 7, connects: Int(args.dropFirst(2).first ?? "") ?? 20_000)
case "open-overhead":
    openOverhead(rounds: Int(args.dropFirst().first ?? "") ?? 7, opens: Int(args.dropFirst(2).first ?? "") ?? 200_000)
case "open-overhead-library":
    openOverheadLibrary(rounds: Int(args.dropFirst().first ?? "") ?? 9, opens: Int(args.dropFirst(2).first ?? "") ?? 200_000)
case "library-cost":
    // vigil-bench library-cost ROUNDS OPENS SPAWNS DIR [DIR ...]
    libraryCost(
        rounds: Int(args.dropFirst().first ?? "") ?? 5, opens: Int(args.dropFirst(2).first ?? "") ?? 100_000,
        spawns: Int(args.dropFirst(3).first ?? "") ?? 1000, libraries: Array(args.dropFirst(4)))
case "open-overhead-guest":
    openOverheadGuest(rounds: Int(args.dropFirst().first ?? "") ?? 5, opens: Int(args.dropFirst(2).first ?? "") ?? 20_000)
case "datapath":
    // vigil-bench datapath [ROUNDS] [CONNECTS] [MEGABYTES]
    datapathBench(
        rounds: Int(args.dropFirst().first ?? "") ?? 5, connects: Int(args.dropFirst(2).first ?? "") ?? 5000,
        megabytes: Int(args.dropFirst(3).first ?? "") ?? 512)
case "encode":
    encodeBench(events: Int(args.dropFirst().first ?? "") ?? 1_000_000)
case "process-events":
    processEventsBench(spawns: Int(args.dropFirst().first ?? "") ?? 300_000)
case "fleet":
    // vigil-bench fleet [NODES] [ENDPOINTS_PER_NODE] [ALLOCATIONS]
    fleetBench(
        nodes: Int(args.dropFirst().first ?? "") ?? 1000, endpointsPerNode: Int(args.dropFirst(2).first ?? "") ?? 10,
        allocations: Int(args.dropFirst(3).first ?? "") ?? 2000)
case "policy-parse":
    let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    policyParse(args.dropFirst().first ?? here.appendingPathComponent("Tests/PolicyYAMLTests/Fixtures/conformance").path)
default:
    print(
        "usage: vigil-bench suite [ROUNDS] [SCALE] [JSON] | throughput [SECONDS] [CONFIRM_SECONDS] [RATES] [JSON] | policy-parse [DIR] | exec-overhead [ROUNDS] [SPAWNS] | connect-overhead [ROUNDS] [CONNECTS] | open-overhead [ROUNDS] [OPENS] | open-overhead-library [ROUNDS] [OPENS] | library-cost ROUNDS OPENS SPAWNS DIR... | open-overhead-guest [ROUNDS] [OPENS] | datapath [ROUNDS] [CONNECTS] [MEGABYTES] | encode [EVENTS] | process-events [SPAWNS] | fleet [NODES] [ENDPOINTS_PER_NODE] [ALLOCATIONS]"
    )
    exit(2)
}
