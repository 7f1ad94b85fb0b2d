import BPFKit
import BPFTestObjects
import Foundation
import PolicyModel
import PolicyYAML

/// The library's file policies as shipped (credential-access and fim-sensitive-files, their
/// tracepoint forms on this host), against the kernel's floor on the same hooks and against
/// bpftrace doing the equivalent prefix filter on the names passed to openat.
///
/// What one open+close of a file none of them watch costs: Vigil judges each open at the
/// syscall's exit by the file the kernel opened (its global path and identity), once per policy
/// on sys_exit_openat; the floor is an empty program on every tracepoint the policies attach
/// (the same number of programs on the same tracepoints); bpftrace compares the caller's string
/// at sys_enter_openat, which is cheaper and, as the evasion table shows, bypassable.
func openOverheadLibrary(rounds: Int, opens: Int) {
    guard geteuid() == 0 else {
        print("open-overhead-library needs root")
        exit(1)
    }
    guard let root = repositoryRoot() else {
        print("open-overhead-library: run it from the checkout (it loads policies/*.yaml)")
        exit(1)
    }
    let policies = ["policies/credential-access.yaml", "policies/fim-sensitive-files.yaml"].map { root + "/" + $0 }
    pin(cpu: 0)
    let file = "/tmp/vigil-bench-open-\(getpid())"
    FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
    defer { try? FileManager.default.removeItem(atPath: file) }
    let export = "/tmp/vigil-bench-library-\(getpid()).json"
    let agentArgs = ["--disable-network-sensor", "--disable-datapath"] + policies.flatMap { ["--policy", $0] }

    // The tracepoints the policies attach on this kernel, from the agent's own status.
    let attachPoints: [String] = {
        let agent = startAgent(export: export, extra: agentArgs)
        defer {
            kill(agent.processIdentifier, SIGINT)
            agent.waitUntilExit()
            try? FileManager.default.removeItem(atPath: export)
            try? FileManager.default.removeItem(atPath: export + ".status")
        }
        let status =
            (try? Data(contentsOf: URL(fileURLWithPath: export + ".status"))).flatMap {
                (try? JSONSerialization.jsonObject(with: $0) as? [String: Any])?["policies"] as? [[String: Any]]
            } ?? []
        return status.flatMap { ($0["hooks"] as? [[String: Any]]) ?? [] }.compactMap { $0["attachPoint"] as? String }
    }()
    guard !attachPoints.isEmpty, attachPoints.allSatisfy({ $0.split(separator: "/").count == 2 }) else {
        print("open-overhead-library: the policies did not attach as classic tracepoints here (\(attachPoints)); this benchmark is for the tracepoint tier")
        exit(1)
    }
    let openHooks = attachPoints.filter { $0.hasSuffix("_openat") }.count

    // bpftrace's equivalent: the same names (Prefix and Equal values of the openat hooks) on
    // the string openat was passed.
    var names: [String] = []
    for path in policies {
        for p in PolicyLoader.load(path: path).policies where p.name.hasSuffix("-tracepoint") {
            for t in p.spec.tracepoints where t.event == "sys_enter_openat" {
                for s in t.common.selectors {
                    for f in s.matchArgs where f.op == .prefix || f.op == .equal { names += f.values.filter { $0.hasPrefix("/") } }
                }
            }
        }
    }
    names = Array(Set(names)).sorted()
    let condition = names.map { "strncmp(str(args->filename), \"\($0)\", \($0.utf8.count)) == 0" }.joined(separator: " || ")
    let bpftrace = "tracepoint:syscalls:sys_enter_openat /\(condition)/ { printf(\"%d %s\\n\", pid, str(args->filename)); }"

    _ = openLoop(opens, path: file)  // warm up
    var off: [Double] = []
    var empty: [Double] = []
    var vigil: [Double] = []
    var peer: [Double] = []
    var emptyNs: [Double] = []
    var vigilNs: [Double] = []
    let hasBpftrace = FileManager.default.isExecutableFile(atPath: "/usr/bin/bpftrace")
    withBPFStats(false) {
        for _ in 0..<rounds {
            off.append(openLoop(opens, path: file))

            // one empty program per hook, on the same tracepoints
            let object = try! BPFObject(bytes: BPFTestObjects.object(named: "empty_tracepoint")!, name: "empty_tracepoint")
            try! object.load()
            let links = attachPoints.map { point -> BPFLink in
                let parts = point.split(separator: "/").map(String.init)
                return try! object.program("empty_tracepoint").attachTracepoint(category: parts[0], name: parts[1])
            }
            empty.append(openLoop(opens, path: file))
            if let ns = programNsPerRun(prefix: "empty_tracepoi", { _ = openLoop(opens / 4, path: file) }) { emptyNs.append(ns) }
            for l in links { l.close() }

            let agent = startAgent(export: export, extra: agentArgs)
            vigil.append(openLoop(opens, path: file))
            if let ns = programNsPerRun(prefix: "hook_syscall_ex", { _ = openLoop(opens / 4, path: file) }) { vigilNs.append(ns) }
            kill(agent.processIdentifier, SIGINT)
            agent.waitUntilExit()
            if let text = try? String(contentsOfFile: export, encoding: .utf8), text.contains(file) {
                print("  (unexpected: an event for the benchmark file left the kernel)")
            }
            try? FileManager.default.removeItem(atPath: export)
            try? FileManager.default.removeItem(atPath: export + ".status")

            if hasBpftrace {
                if let t = withBpftrace(bpftrace, { openLoop(opens, path: file) }) { peer.append(t) } else { print("  bpftrace exited early") }
            }
        }
    }
    let mOff = median(off)
    let mEmpty = median(empty)
    let mVigil = median(vigil)
    print(
        "open-overhead-library: open()+close() of a file no policy watches, credential-access + fim-sensitive-files (tracepoint forms, \(attachPoints.count) hooks, \(openHooks) on sys_exit_openat), \(rounds) rounds x \(opens) opens, interleaved; workload on CPU 0, agent on CPU 1"
    )
    print(String(format: "  no program:                     median %.0f ns per open+close", mOff))
    print(String(format: "  empty programs, same hooks:     median %.0f ns  (+%.0f ns)", mEmpty, mEmpty - mOff))
    var line = String(
        format: "  vigil, both policies:           median %.0f ns  (+%.0f ns); / floor %.2fx (target <= 1.5x)", mVigil, mVigil - mOff,
        (mVigil - mOff) / max(mEmpty - mOff, 1))
    if !peer.isEmpty {
        let mPeer = median(peer)
        print(String(format: "  bpftrace, %d names on openat:   median %.0f ns  (+%.0f ns)", names.count, mPeer, mPeer - mOff))
        line += String(format: "; / bpftrace %.2fx (target <= 0.5x)", (mVigil - mOff) / max(mPeer - mOff, 1))
    } else {
        print("  bpftrace not installed (apt-get install bpftrace): comparison skipped")
    }
    print(line)
    let added = zip(vigil, off).map { $0 - $1 }
    let toFloor = zip(added, zip(empty, off).map { max($0 - $1, 1) }).map { $0 / $1 }
    print(
        String(
            format: "      per round: / floor median %.2fx (90%% interval %.2f .. %.2f)", median(toFloor), medianInterval(toFloor).low,
            medianInterval(toFloor).high))
    if !emptyNs.isEmpty && !vigilNs.isEmpty {
        print(
            String(
                format: "  inside the programs (bpf_stats, ns per run): empty tracepoint program %.0f, vigil's sys_exit_openat program %.0f (%.2fx)",
                median(emptyNs), median(vigilNs), median(vigilNs) / max(median(emptyNs), 1)))
    }
}

/// The checkout this benchmark was built in (it holds policies/), or the working directory's.
func repositoryRoot() -> String? {
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    for _ in 0..<6 {
        if FileManager.default.fileExists(atPath: dir.path + "/policies/credential-access.yaml") { return dir.path }
        dir = dir.deletingLastPathComponent()
    }
    let cwd = FileManager.default.currentDirectoryPath
    return FileManager.default.fileExists(atPath: cwd + "/policies/credential-access.yaml") ? cwd : nil
}
