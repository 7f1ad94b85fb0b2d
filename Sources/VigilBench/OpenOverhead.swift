import BPFKit
import BPFTestObjects
import Foundation

/// open()+close() of one file `n` times; ns per pair.
func openLoop(_ n: Int, path: String) -> Double {
    let t = now()
    for _ in 0..<n {
        let fd = open(path, O_RDONLY)
        if fd >= 0 { close(fd) }
    }
    return Double(now() - t) / Double(n)
}

/// A FIM policy on sys_enter_openat whose three prefixes never match the benchmark's file.
let fimPolicy = """
    apiVersion: cilium.io/v1alpha1
    kind: TracingPolicy
    metadata:
      name: bench-fim
    spec:
      tracepoints:
      - subsystem: syscalls
        event: sys_enter_openat
        args:
        - index: 5
          type: int
        - index: 6
          type: string
        selectors:
        - matchArgs:
          - index: 1
            operator: Prefix
            values: ["/etc/", "/usr/", "/root/"]
    """

/// The same three prefixes in bpftrace (0.17 on Debian 12).
let bpftraceProgram = """
    tracepoint:syscalls:sys_enter_openat /strncmp(str(args->filename), "/etc/", 5) == 0 || strncmp(str(args->filename), "/usr/", 5) == 0 || strncmp(str(args->filename), "/root/", 6) == 0/ { printf("%d %s\\n", pid, str(args->filename)); }
    """

/// open+close cost with nothing attached, with an empty program on the same tracepoint (the
/// kernel's floor), with the agent running the FIM policy, and with bpftrace doing the same
/// filter; interleaved rounds, medians, ratios of the added costs.
func openOverhead(rounds: Int, opens: Int) {
    guard geteuid() == 0 else {
        print("open-overhead needs root")
        exit(1)
    }
    pin(cpu: 0)
    let file = "/tmp/vigil-bench-open-\(getpid())"
    FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
    defer { try? FileManager.default.removeItem(atPath: file) }
    let policyPath = "/tmp/vigil-bench-fim-\(getpid()).yaml"
    try! fimPolicy.write(toFile: policyPath, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: policyPath) }
    let hasBpftrace = FileManager.default.isExecutableFile(atPath: "/usr/bin/bpftrace")
    _ = openLoop(opens, path: file)  // warm up
    // Two Vigil configurations: the policy engine (the FIM policy and the process sensor it
    // needs for binaries and identities), which is what "the same filter" as bpftrace means,
    // and the default agent, which adds the network sensor (whose syscall-free hooks should
    // cost nothing here: a difference would show a tax on every syscall).
    let vigilConfigs: [(name: String, args: [String])] = [("policy engine", ["--disable-network-sensor"]), ("default agent", [])]
    var off: [Double] = []
    var empty: [Double] = []
    var readPath: [Double] = []
    var vigil: [[Double]] = vigilConfigs.map { _ in [] }
    var bpftrace: [Double] = []
    // ns per run inside the programs (bpf_stats, a shorter loop after the timed one): steadier
    // than the wall-clock figures, which move by tens of ns from run to run here
    var readPathNs: [Double] = []
    var hookNs: [Double] = []
    withBPFStats(false) {
        for _ in 0..<rounds {
            off.append(openLoop(opens, path: file))

            let object = try! BPFObject(bytes: BPFTestObjects.object(named: "empty_openat")!, name: "empty_openat")
            try! object.load()
            let link = try! object.program("empty_openat").attach()
            empty.append(openLoop(opens, path: file))
            link.close()
            let readLink = try! object.program("read_path_openat").attach()
            readPath.append(openLoop(opens, path: file))
            if let ns = programNsPerRun(prefix: "read_path_openat", { _ = openLoop(opens / 4, path: file) }) { readPathNs.append(ns) }
            readLink.close()

            for (i, config) in vigilConfigs.enumerated() {
                let export = "/tmp/vigil-bench-open-\(getpid()).json"
                let agent = startAgent(export: export, extra: ["--policy", policyPath] + config.args)
                vigil[i].append(openLoop(opens, path: file))
                if i == 0, let ns = programNsPerRun(prefix: "hook_", { _ = openLoop(opens / 4, path: file) }) { hookNs.append(ns) }
                kill(agent.processIdentifier, SIGINT)
                agent.waitUntilExit()
                if let text = try? String(contentsOfFile: export, encoding: .utf8), text.contains("\"string_arg\":\"\(file)\"") {
                    print("  (unexpected: an event for the benchmark file left the kernel)")
                }
                try? FileManager.default.removeItem(atPath: export)
            }

            if hasBpftrace {
                if let t = withBpftrace(bpftraceProgram, { openLoop(opens, path: file) }) { bpftrace.append(t) } else { print("  bpftrace exited early") }
            }
        }
    }
    let mOff = median(off)
    let mEmpty = median(empty)
    print(
        "open-overhead: open()+close() of a file no prefix matches, \(rounds) rounds x \(opens) opens, interleaved; workload on CPU 0, agents on CPU 1; kernel.bpf_stats_enabled=0"
    )
    print(String(format: "  no program:                 median %.0f ns per open+close", mOff))
    print(String(format: "  empty program (the floor):  median %.0f ns  (+%.0f ns, %+.1f%%)", mEmpty, mEmpty - mOff, (mEmpty / mOff - 1) * 100))
    let mRead = median(readPath)
    print(
        String(
            format: "  empty + path read (helper): median %.0f ns  (+%.0f ns, %+.1f%%): the floor of any filter on the path",
            mRead, mRead - mOff, (mRead / mOff - 1) * 100))
    let mB = bpftrace.isEmpty ? nil : median(bpftrace)
    if let mB {
        print(String(format: "  bpftrace, same prefixes:    median %.0f ns  (+%.0f ns, %+.1f%%)", mB, mB - mOff, (mB / mOff - 1) * 100))
    } else {
        print("  bpftrace not installed (apt-get install bpftrace) : comparison skipped")
    }
    for (i, config) in vigilConfigs.enumerated() {
        let m = median(vigil[i])
        var line = String(
            format: "  vigil FIM, %@: median %.0f ns  (+%.0f ns, %+.1f%%); / floor %.2fx (target <= 1.5x)",
            config.name, m, m - mOff, (m / mOff - 1) * 100, (m - mOff) / max(mEmpty - mOff, 1))
        if let mB { line += String(format: "; / bpftrace %.2fx (target <= 0.5x)", (m - mOff) / max(mB - mOff, 1)) }
        line += String(format: "; beyond the path read %+.0f ns", m - mRead)
        print(line)
        // the same ratios round by round (each round's own floor), with a 90% bootstrap
        // interval of their median: how far the verdict is from the noise
        let added = zip(vigil[i], off).map { $0 - $1 }
        let toFloor = zip(added, zip(empty, off).map { max($0 - $1, 1) }).map { $0 / $1 }
        var rounds = String(
            format: "      per round: / floor median %.2fx (90%% interval %.2f .. %.2f)",
            median(toFloor), medianInterval(toFloor).low, medianInterval(toFloor).high)
        if bpftrace.count == added.count {
            let toPeer = zip(added, zip(bpftrace, off).map { max($0 - $1, 1) }).map { $0 / $1 }
            rounds += String(format: "; / bpftrace median %.2fx (%.2f .. %.2f)", median(toPeer), medianInterval(toPeer).low, medianInterval(toPeer).high)
        }
        print(rounds)
    }
    if !readPathNs.isEmpty && !hookNs.isEmpty {
        print(
            String(
                format: "  inside the programs (bpf_stats, ns per run with its own clock reads): path-read floor %.0f, vigil's hook %.0f (%+.0f)",
                median(readPathNs), median(hookNs), median(hookNs) - median(readPathNs)))
    }
}

/// ns per run of the programs whose names start with `prefix` while `body` runs, with
/// kernel.bpf_stats_enabled=1 only for that time; nil when none ran.
func programNsPerRun(prefix: String, _ body: () -> Void) -> Double? {
    let t = programRunTime(prefix: prefix, body)
    return t.runs > 0 ? Double(t.ns) / Double(t.runs) : nil
}

/// Run time and runs, summed, of the programs whose names start with `prefix` (all programs
/// for "") while `body` runs, with kernel.bpf_stats_enabled=1 only for that time.
func programRunTime(prefix: String, _ body: () -> Void) -> (ns: UInt64, runs: UInt64) {
    let before = bpfStats(prefix: prefix)
    body()
    let after = bpfStats(prefix: prefix)
    try? "0".write(toFile: "/proc/sys/kernel/bpf_stats_enabled", atomically: false, encoding: .utf8)
    var ns: UInt64 = 0
    var runs: UInt64 = 0
    for (name, a) in after {
        let b = before[name] ?? (0, 0)
        ns += a.ns &- b.ns
        runs += a.count &- b.count
    }
    return (ns, runs)
}

/// The same FIM prefixes on the trampoline and LSM tiers (`security_file_open` as fentry,
/// `file_open` as BPF-LSM), each against an empty program on the same hook. For the qemu
/// guests (`scripts/vm-test.sh --bench "open-overhead-guest 5 20000"`): indicative only,
/// their CPUs are emulated.
func openOverheadGuest(rounds: Int, opens: Int) {
    guard geteuid() == 0 else {
        print("open-overhead-guest needs root")
        exit(1)
    }
    pin(cpu: 0)
    let file = "/tmp/vigil-bench-open-\(getpid())"
    FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
    defer { try? FileManager.default.removeItem(atPath: file) }
    let prefixes = "[\"/etc/\", \"/usr/\", \"/root/\"]"
    let tiers: [(name: String, program: String, policy: String)] = [
        (
            "fentry security_file_open", "empty_fentry_file_open",
            """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: bench-fim-fentry}
            spec:
              kprobes:
              - call: security_file_open
                syscall: false
                args: [{index: 0, type: file}]
                selectors:
                - matchArgs: [{index: 0, operator: Prefix, values: \(prefixes)}]
            """
        ),
        (
            "lsm file_open", "empty_lsm_file_open",
            """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata: {name: bench-fim-lsm}
            spec:
              lsmhooks:
              - hook: file_open
                args: [{index: 0, type: file}]
                selectors:
                - matchArgs: [{index: 0, operator: Prefix, values: \(prefixes)}]
            """
        ),
    ]
    print("open-overhead-guest: open()+close() of a file no prefix matches, \(rounds) rounds x \(opens) opens; indicative (emulated CPU)")
    for tier in tiers {
        let policyPath = "/tmp/vigil-bench-\(getpid()).yaml"
        try! tier.policy.write(toFile: policyPath, atomically: true, encoding: .utf8)
        var off: [Double] = []
        var empty: [Double] = []
        var vigil: [Double] = []
        _ = openLoop(opens / 4, path: file)
        for _ in 0..<rounds {
            off.append(openLoop(opens, path: file))
            do {
                let object = try BPFObject(bytes: BPFTestObjects.object(named: "empty_file_open")!, name: "empty_file_open")
                try object.keepOnly(programs: [tier.program])
                try object.load()
                let p = try object.program(tier.program)
                let link = tier.program.contains("lsm") ? try p.attachLSM() : try p.attachTrace()
                empty.append(openLoop(opens, path: file))
                link.close()
            } catch {
                print("  \(tier.name): empty program: \(error)")
                break
            }
            let export = "/tmp/vigil-bench-open-\(getpid()).json"
            let agent = startAgent(export: export, extra: ["--policy", policyPath])
            vigil.append(openLoop(opens, path: file))
            kill(agent.processIdentifier, SIGINT)
            agent.waitUntilExit()
            try? FileManager.default.removeItem(atPath: export)
        }
        try? FileManager.default.removeItem(atPath: policyPath)
        guard !empty.isEmpty, !vigil.isEmpty else { continue }
        let mOff = median(off)
        let mEmpty = median(empty)
        let mVigil = median(vigil)
        print("  \(tier.name):")
        print(
            String(
                format: "    no program %.0f ns; empty program +%.0f ns (%+.1f%%); vigil FIM +%.0f ns (%+.1f%%, target <= +5%%); vigil / floor %.2fx",
                mOff, mEmpty - mOff, (mEmpty / mOff - 1) * 100, mVigil - mOff, (mVigil / mOff - 1) * 100, (mVigil - mOff) / max(mEmpty - mOff, 1)))
    }
}
