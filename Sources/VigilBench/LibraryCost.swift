import Foundation

/// What a policy library costs the node per open and per spawn: the agent with each library
/// directory given (the whole of `policies/`, an older library extracted with `git archive`)
/// against no agent, interleaved round by round. Wall clock per open+close of a file no policy
/// watches and per fork+exec+wait of /bin/true, and the kernel side: every BPF program's run
/// time (kernel.bpf_stats_enabled=1, only while measuring it) divided by the opens or spawns
/// made, which is what the library's programs cost whatever their number.
func libraryCost(rounds: Int, opens: Int, spawns: Int, libraries: [String]) {
    guard geteuid() == 0 else {
        print("library-cost needs root")
        exit(1)
    }
    guard !libraries.isEmpty, libraries.allSatisfy({ FileManager.default.fileExists(atPath: $0) }) else {
        print("usage: vigil-bench library-cost ROUNDS OPENS SPAWNS DIR [DIR ...]  (each DIR a policy directory)")
        exit(2)
    }
    pin(cpu: 0)
    // not in /tmp: files there are candidates for the writable-directory policies' script forms
    let file = ProcessInfo.processInfo.environment["VIGIL_BENCH_OPEN_FILE"] ?? "/srv/vigil-bench-library-open-\(getpid())"
    FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
    defer { try? FileManager.default.removeItem(atPath: file) }
    let export = "/dev/shm/vigil-bench-library-cost-\(getpid()).json"

    /// Every program's run time while `body` runs (stats on only for that time).
    func kernelNs(_ body: () -> Void) -> Double { Double(programRunTime(prefix: "", body).ns) }

    var offOpen: [Double] = []
    var offSpawn: [Double] = []
    var open = [[Double]](repeating: [], count: libraries.count)
    var spawn = [[Double]](repeating: [], count: libraries.count)
    var kOpen = [[Double]](repeating: [], count: libraries.count)
    var kSpawn = [[Double]](repeating: [], count: libraries.count)
    _ = openLoop(opens, path: file)  // warm up
    _ = spawnLoop(spawns / 4)
    for _ in 0..<rounds {
        offOpen.append(openLoop(opens, path: file))
        offSpawn.append(spawnLoop(spawns))
        for (i, dir) in libraries.enumerated() {
            let agent = startAgent(export: export, extra: ["--policy-dir", dir])
            open[i].append(openLoop(opens, path: file))
            spawn[i].append(spawnLoop(spawns))
            kOpen[i].append(kernelNs { _ = openLoop(opens / 4, path: file) } / Double(opens / 4))
            kSpawn[i].append(kernelNs { _ = spawnLoop(spawns / 4) } / Double(spawns / 4))
            kill(agent.processIdentifier, SIGINT)
            agent.waitUntilExit()
            for suffix in ["", ".status", ".lock"] { try? FileManager.default.removeItem(atPath: export + suffix) }
        }
    }
    let mOpen = median(offOpen)
    let mSpawn = median(offSpawn)
    print(
        "library-cost: \(rounds) rounds, interleaved; open()+close() of \(file), which no policy watches (\(opens) per round), fork+exec+wait of /bin/true (\(spawns) per round); workload on CPU 0, agent on CPU 1"
    )
    print(String(format: "  no agent: %.0f ns per open+close, %.1f us per spawn", mOpen, mSpawn / 1000))
    for (i, dir) in libraries.enumerated() {
        let o = median(open[i])
        let s = median(spawn[i])
        print(
            String(
                format:
                    "  %@: open+close %.0f ns (+%.0f ns), spawn %.1f us (+%.1f us, %+.2f%%); in the kernel, all programs: %.0f ns per open+close, %.2f us per spawn (%.2f%% of it)",
                dir, o, o - mOpen, s / 1000, (s - mSpawn) / 1000, (s - mSpawn) / mSpawn * 100, median(kOpen[i]), median(kSpawn[i]) / 1000,
                median(kSpawn[i]) / mSpawn * 100))
    }
}
