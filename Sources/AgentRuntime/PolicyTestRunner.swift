import AgentCore
import Foundation
import KernelFeatures
import PolicyModel

/// The outcome of one attack-test case on this kernel (`vigil policy test`).
public struct AttackResult: Sendable, Codable, Equatable {
    public var suite: String
    public var name: String
    public var attackClass: String
    public var access: String
    public var benign: Bool
    /// The hook tier the policies run as here (`tracepoint`, `lsm`).
    public var tier: String
    public var kernel: String
    public var expected: String
    /// The case's known kernel limit on this tier, if it names one.
    public var limit: String?
    public var got: String
    public var passed: Bool
    /// What was seen, for a failure: exit status, events.
    public var detail: String
}

/// Runs attack-test suites against the running kernel: the real agent (`vigil agent`, this
/// executable) with the suite's policies, the steps as real processes, the outcome read from
/// the agent's JSON export and the processes' exit statuses.
public final class PolicyTestRunner {
    let executable: String
    /// Bounds the wait for a case's events (normally ended by the barrier, see `run`).
    let settle: TimeInterval
    /// Bounds the wait for the agent to load the suite's policies (the kernel verifies each
    /// hook: seconds here, minutes on an emulated CPU); a ready agent ends it at once.
    let startTimeout: TimeInterval
    let log: (String) -> Void

    public init(executable: String, settle: TimeInterval? = nil, log: @escaping (String) -> Void = { _ in }) {
        self.executable = executable
        let inVM = ProcessInfo.processInfo.environment["VIGIL_IN_VM"] != nil
        self.settle = settle ?? (inVM ? 6 : 1.5)
        self.startTimeout = inVM ? 600 : 90
        self.log = log
    }

    /// The tier the running kernel gives file and exec policies: BPF-LSM where it loads and is
    /// active, syscall tracepoints elsewhere.
    public static func currentTier(probe: FeatureProbe = .shared) -> String {
        probe.isSupported(.lsm) && HookPlacement.activeLSMs().contains("bpf") ? "lsm" : "tracepoint"
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Runs every case of `suite`; results in case order.
    public func run(_ suite: AttackSuite) throws -> [AttackResult] {
        let tier = Self.currentTier()
        let kernel = KernelFeatures.runningKernelRelease
        let dir = (suite.file as NSString).deletingLastPathComponent
        let policies = suite.policies.map { $0.hasPrefix("/") ? $0 : (dir as NSString).appendingPathComponent($0) }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-policy-test-\(getpid())-\(UUID().uuidString.prefix(6))").path
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }

        StepRunner.suiteDirectory = URL(fileURLWithPath: dir.isEmpty ? "." : dir).standardizedFileURL.path
        // $OUTSIDE: this run's own directory outside every writable place the policies judge
        // (on the root file system): a fixed path there was shared by the two guests (which
        // see the host's /root over 9p) and one's teardown removed the other's chroot
        let outside = "/root/vigil-attack-\(getpid())-\(UUID().uuidString.prefix(6))"
        StepRunner.outsideDirectory = outside
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: outside) }
        let suiteScratch = work + "/suite"
        try FileManager.default.createDirectory(atPath: suiteScratch, withIntermediateDirectories: true)
        defer {
            for step in suite.teardown { _ = try? StepRunner.run(step, user: nil, mountNamespace: false, scratch: suiteScratch, suiteScratch: suiteScratch) }
        }
        for step in suite.setup {
            let r = try StepRunner.run(step, user: nil, mountNamespace: false, scratch: suiteScratch, suiteScratch: suiteScratch)
            guard r.status == 0 else { throw Failure(description: "\(suite.file): setup step failed (\(r.status)): \(step): \(r.stderr)") }
        }
        // after the setup: the files and mounts it makes are there when the policies load
        let agent = try AgentUnderTest(executable: executable, policies: policies, directory: work, timeout: startTimeout)
        defer { agent.stop() }
        log("\(suite.file): \(suite.cases.count) cases, tier \(tier), kernel \(kernel)")

        var results: [AttackResult] = []
        for (i, c) in suite.cases.enumerated() {
            let scratch = work + "/case-\(i)"
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
            chmod(scratch, 0o777)  // a case may run as another user
            var steps: [StepRunner.Outcome] = []
            for step in c.steps {
                steps.append(try StepRunner.run(step, user: c.user, mountNamespace: c.mountNamespace, scratch: scratch, suiteScratch: suiteScratch))
            }
            let pids = Set(steps.map(\.pid))
            var expectation = c.expectation(on: tier) ?? AttackExpectation(outcome: .nothing)
            // an expected path may name the case's or the suite's scratch directory
            if let path = expectation.event?.path {
                expectation.event?.path = path.replacingOccurrences(of: "$SCRATCH", with: scratch).replacingOccurrences(of: "$SUITE", with: suiteScratch)
            }
            // Every record goes through one ordered ring buffer: once a process started after
            // the steps shows up in the export, every event of the steps is there too.
            let barrier = try StepRunner.run(
                "true vigil-policy-test-barrier-\(i)", user: nil, mountNamespace: false, scratch: scratch, suiteScratch: suiteScratch)
            let (events, barrierSeen) = agent.events(from: pids, barrier: barrier.pid, timeout: settle * 5)
            var verdict = Self.judge(expectation, last: steps.last, events: events)
            // Without the barrier nothing can be concluded, not even a benign case's quiet:
            // the agent lost events or stopped.
            if !barrierSeen {
                verdict = (false, "no barrier", "the agent did not export the barrier process in \(Int(settle * 5)) s; \(agent.health())")
            }
            // exit 77: the attack cannot be carried out on this system (the step says why)
            if let last = steps.last, last.status == Self.notApplicable {
                verdict = (true, "n/a", last.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            // a program the case runs is not installed: the case proves nothing (a pipeline's
            // status is its last command's, so `openssl ... | perl` would pass quietly)
            if let missing = zip(c.steps, steps).lazy.compactMap({ StepRunner.missingProgram(in: $1.stderr, command: $0) }).first {
                verdict = (false, "not run", "this machine lacks `\(missing)`, which the case runs (install it: scripts/install-deps.sh --test)")
            }
            results.append(
                AttackResult(
                    suite: suite.file, name: c.name, attackClass: c.attackClass ?? "", access: c.access ?? "", benign: c.benign,
                    tier: tier, kernel: kernel, expected: Self.describe(expectation), limit: expectation.limit,
                    got: verdict.got, passed: verdict.passed, detail: verdict.detail))
            log(
                "  \(verdict.passed ? "pass" : "FAIL")  \(c.name): expected \(Self.describe(expectation)), got \(verdict.got)\(verdict.passed ? "" : " (\(verdict.detail))")"
            )
        }
        return results
    }

    /// The exit status of an attack step that cannot be carried out on this system (as
    /// autotools' "skipped"): reported as n/a with the step's message, in the table too.
    static let notApplicable: Int32 = 77

    static func describe(_ e: AttackExpectation) -> String {
        var s = e.outcome.rawValue
        if let m = e.event {
            let fields = [m.policy.map { "policy \($0)" }, m.path.map { "path \($0)" }, m.binary.map { "binary \($0)" }].compactMap { $0 }
            if !fields.isEmpty { s += " (" + fields.joined(separator: ", ") + ")" }
        }
        return s
    }

    /// Whether what happened is what `e` expects; `got` says what happened.
    static func judge(_ e: AttackExpectation, last: StepRunner.Outcome?, events: [[String: Any]]) -> (passed: Bool, got: String, detail: String) {
        let matching = events.filter { matches($0, e.event) }
        let killedEvent = matching.contains { action($0) == "KPROBE_ACTION_SIGKILL" }
        let deniedEvent = matching.contains { action($0) == "KPROBE_ACTION_OVERRIDE" }
        let killed = last.map { $0.killedBySIGKILL } ?? false
        let quiet = last.map { $0.stdout.isEmpty } ?? true
        // A failing step's last stderr line says why (a missing file, a refused call).
        // (the last three lines: mount(8) ends its message with a line about dmesg)
        let said =
            last.flatMap { l -> String? in
                guard l.status != 0 else { return nil }
                let lines = l.stderr.split(separator: "\n").suffix(3).map { $0.trimmingCharacters(in: .whitespaces).prefix(160) }
                return lines.isEmpty ? nil : ": " + lines.joined(separator: " / ")
            } ?? ""
        let status = last.map { "exit \($0.status)\($0.killedBySIGKILL ? " (SIGKILL)" : "")\(said)" } ?? "no step"
        let got: String
        if events.isEmpty {
            got = "nothing"
        } else if killed && killedEvent {
            got = "killed"
        } else if deniedEvent && (last?.status ?? 0) != 0 {
            got = "denied"
        } else {
            got = "event"
        }
        let detail = "\(status); \(events.count) event(s)" + (events.isEmpty ? "" : ": " + events.prefix(3).map(summary).joined(separator: "; "))
        switch e.outcome {
        case .nothing: return (events.isEmpty, got, detail)
        case .event: return (!matching.isEmpty, matching.isEmpty ? got : "event", detail)
        case .killed: return (killed && killedEvent && quiet, got, detail + (quiet ? "" : "; the attack printed \(last?.stdout.count ?? 0) bytes"))
        case .denied: return (deniedEvent && (last?.status ?? 0) != 0 && !killed && quiet, got, detail)
        }
    }

    static func body(_ event: [String: Any]) -> [String: Any]? {
        for k in ["process_kprobe", "process_tracepoint", "process_lsm", "process_uprobe"] { if let b = event[k] as? [String: Any] { return b } }
        // the agent's own detections (a pipeline into a shell, a reverse shell), named by their `detection`
        for k in DetectionEvent.kinds { if let b = event[k] as? [String: Any] { return b } }
        return nil
    }

    static func action(_ event: [String: Any]) -> String? { body(event)?["action"] as? String }

    static func matches(_ event: [String: Any], _ m: AttackEventMatch?) -> Bool {
        guard let b = body(event) else { return false }
        guard let m else { return true }
        if let p = m.policy, !((b["policy_name"] as? String ?? b["detection"] as? String) ?? "").hasPrefix(p) { return false }
        if let bin = m.binary, ((b["process"] as? [String: Any])?["binary"] as? String) != bin { return false }
        if let path = m.path, !paths(b).contains(path) { return false }
        return true
    }

    /// Every path an event's arguments show.
    static func paths(_ body: [String: Any]) -> [String] {
        var out: [String] = []
        for a in (body["args"] as? [[String: Any]]) ?? [] {
            for k in ["file_arg", "path_arg", "linux_binprm_arg"] { if let p = (a[k] as? [String: Any])?["path"] as? String { out.append(p) } }
            if let s = a["string_arg"] as? String { out.append(s) }
        }
        return out
    }

    static func summary(_ event: [String: Any]) -> String {
        guard let b = body(event) else { return "?" }
        let bin = (b["process"] as? [String: Any])?["binary"] as? String ?? "?"
        return "\(b["policy_name"] as? String ?? b["detection"] as? String ?? "?") \(action(event) ?? "?") \(bin) \(paths(b).joined(separator: ","))"
    }
}

/// One shell step of a case, run as a real process.
enum StepRunner {
    struct Outcome {
        var pid: Int32
        var status: Int32
        var killedBySIGKILL: Bool
        var stdout: String
        var stderr: String
    }

    /// The directory of the suite file, for its helpers ($SUITE_DIR).
    nonisolated(unsafe) static var suiteDirectory = ""
    /// This run's directory outside the writable places ($OUTSIDE).
    nonisolated(unsafe) static var outsideDirectory = ""

    static func run(_ command: String, user: String?, mountNamespace: Bool, scratch: String, suiteScratch: String) throws -> Outcome {
        var argv = ["/bin/sh", "-c", command]
        if let user {
            let (uid, gid) = try ids(of: user)
            argv = ["/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--"] + argv
        }
        if mountNamespace { argv = ["/usr/bin/unshare", "--mount", "--propagation", "private", "--"] + argv }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        p.currentDirectoryURL = URL(fileURLWithPath: scratch)
        var env = ProcessInfo.processInfo.environment
        env["SCRATCH"] = scratch
        env["SUITE"] = suiteScratch
        env["SUITE_DIR"] = suiteDirectory
        env["OUTSIDE"] = outsideDirectory
        p.environment = env
        let out = Pipe()
        let err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let collected = OutputBox()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { collected.out = out.fileHandleForReading.readDataToEndOfFile() }
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        let signaled = p.terminationReason == .uncaughtSignal
        let status = p.terminationStatus
        // a shell reports a command killed by a signal as 128 + the signal
        let killed = (signaled && status == SIGKILL) || (!signaled && status == 128 + SIGKILL)
        return Outcome(
            pid: p.processIdentifier, status: signaled ? 128 + status : status, killedBySIGKILL: killed,
            stdout: String(decoding: collected.out, as: UTF8.self), stderr: String(decoding: errData, as: UTF8.self))
    }

    /// The program a shell reported it could not find (`sh: 1: openssl: not found`, bash's
    /// `openssl: command not found`), if the step names it and no directory of PATH holds it:
    /// a path not found is the case's own business (a deleted or denied file), and so is a
    /// word a shell was fed (a reverse shell reading telnet's "Trying ..." banner).
    static func missingProgram(in stderr: String, command: String) -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        for line in stderr.split(separator: "\n") {
            // only a shell's own message: `sh: 1: NAME: not found`, `bash: NAME: command not
            // found`, `sh: line 1: NAME: command not found` (a program's output may end alike)
            let parts = line.split(separator: ":", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count >= 3, parts[0].hasSuffix("sh"), let last = parts.last, last == "not found" || last == "command not found" else { continue }
            let name = parts[parts.count - 2]
            guard !name.isEmpty, !name.contains("/"), !name.contains(" "), Self.names(command, name) else { continue }
            if !path.contains(where: { access("\($0)/\(name)", X_OK) == 0 }) { return name }
        }
        return nil
    }

    /// Whether `word` stands in `command` as a word of its own (not inside another name).
    static func names(_ command: String, _ word: String) -> Bool {
        let isNameByte = { (b: UInt8) in (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 95 || b == 45 || b == 46 }
        let c = Array(command.utf8)
        let w = Array(word.utf8)
        guard !w.isEmpty, c.count >= w.count else { return false }
        for i in 0...(c.count - w.count) where Array(c[i..<(i + w.count)]) == w {
            let before = i == 0 ? nil : c[i - 1]
            let after = i + w.count == c.count ? nil : c[i + w.count]
            if before.map({ !isNameByte($0) && $0 != 47 }) ?? true, after.map({ !isNameByte($0) }) ?? true { return true }
        }
        return false
    }

    static func ids(of user: String) throws -> (uid_t, gid_t) {
        if let uid = UInt32(user) { return (uid, uid) }
        guard let pw = getpwnam(user) else { throw PolicyTestRunner.Failure(description: "no user \(user) on this machine") }
        return (pw.pointee.pw_uid, pw.pointee.pw_gid)
    }

    final class OutputBox: @unchecked Sendable { var out = Data() }
}

/// `vigil agent` started for a suite: its policies loaded, exporting JSON lines to a file.
final class AgentUnderTest {
    let process = Process()
    let exportPath: String
    let errPath: String
    private var offset: UInt64 = 0
    /// What the export said, kept small: a busy machine's exec and exit events are most of it
    /// (a noisy neighbour once grew a suite's reader to 24 GB when every line was kept).
    /// The process tree from the exec events (policy events name only the process and its
    /// parent: a step's grandchild, `sh -c 'find ... -exec cat {} + > f'`, is found by walking
    /// up), the pids seen exec'ing (the barrier), and the other events until a case takes them.
    private var parentOf: [Int32: Int32] = [:]
    private var execed: Set<Int32> = []
    private var pending: [[String: Any]] = []
    private var linesRead = 0

    init(executable: String, policies: [String], directory: String, timeout: TimeInterval) throws {
        exportPath = directory + "/events.json"
        errPath = directory + "/agent.log"
        let status = directory + "/status.json"
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments =
            [
                "agent", "--node-name", "policy-test", "--export-file", exportPath, "--status-file", status, "--enable-ancestors",
                "--disable-network-sensor", "--disable-datapath", "--server-address", "", "--lock-file", directory + "/agent.lock", "--enforce-pin-dir", "",
                "--exit-with-parent",
                // never rotated under the reader (10 MiB, the default, was reached mid-suite in CI:
                // the reader kept its offset into the moved file and saw nothing more)
                "--export-file-max-size", "4G",
            ] + policies.flatMap { ["--policy", $0] }
        FileManager.default.createFile(atPath: errPath, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: errPath)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // ready once every policy is attached (the status file is written after) and the /proc
        // seeding has exported this process
        let me = "\"pid\":\(getpid()),"
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if !process.isRunning {
                throw PolicyTestRunner.Failure(description: "the agent stopped: \((try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")")
            }
            if FileManager.default.fileExists(atPath: status), let text = try? String(contentsOfFile: exportPath, encoding: .utf8), text.contains(me) { return }
            usleep(50_000)
        }
        stop()
        throw PolicyTestRunner.Failure(description: "the agent did not become ready in \(Int(timeout)) s")
    }

    /// Policy events of the processes `pids` started (they or an ancestor), read until the
    /// barrier process (started after them) has its exec in the export, or `timeout` passes.
    func events(from pids: Set<Int32>, barrier: Int32, timeout: TimeInterval) -> (events: [[String: Any]], barrierSeen: Bool) {
        let deadline = Date().addingTimeInterval(timeout)
        var passed = false
        repeat {
            readNew()
            passed = execed.contains(barrier)
            if passed { break }
            usleep(50_000)
        } while Date() < deadline
        let events = pending.filter { e in
            guard let b = PolicyTestRunner.body(e) else { return false }
            var chain: [Int32] = []
            for key in ["process", "parent"] { if let p = (b[key] as? [String: Any])?["pid"] as? Int { chain.append(Int32(p)) } }
            for a in (b["ancestors"] as? [[String: Any]]) ?? [] { if let p = a["pid"] as? Int { chain.append(Int32(p)) } }
            var up = chain.last
            for _ in 0..<32 {
                guard let p = up, let next = parentOf[p], next > 1 else { break }
                chain.append(next)
                up = next
            }
            return chain.contains(where: pids.contains)
        }
        // each case reads once, after its barrier: what is left belongs to no later case
        pending.removeAll(keepingCapacity: true)
        return (events, passed)
    }

    /// Whether the agent runs, and the end of its log: what a lost barrier is explained by.
    func health() -> String {
        let log = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        let tail = log.split(separator: "\n").suffix(8).joined(separator: " | ")
        let state = process.isRunning ? "the agent runs" : "the agent exited (status \(process.terminationStatus))"
        return "\(state)\(process.isRunning ? "; " + threads() : ""); \(exportState()); its log ends: \(tail.isEmpty ? "(empty)" : tail)"
    }

    /// Each agent thread's state and where it sleeps (/proc/PID/task): a loop stuck in a
    /// syscall (D, a wait channel) or spinning (R) tells itself apart from an idle one.
    private func threads() -> String {
        let dir = "/proc/\(process.processIdentifier)/task"
        let tids = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
        let described = tids.map { tid -> String in
            let stat = (try? String(contentsOfFile: "\(dir)/\(tid)/stat", encoding: .utf8)) ?? ""
            // after the command name's closing parenthesis: state, then the other fields
            let afterName = stat.split(separator: ")", maxSplits: 1).last.map(String.init) ?? ""
            let fields = afterName.split(separator: " ")
            let comm = stat.split(separator: "(", maxSplits: 1).last?.split(separator: ")").first ?? "?"
            let wchan = (try? String(contentsOfFile: "\(dir)/\(tid)/wchan", encoding: .utf8)) ?? "?"
            let cpu = fields.count > 13 ? "\(fields[11])+\(fields[12]) ticks" : "?"
            return "\(comm) \(fields.first ?? "?") \(wchan.isEmpty || wchan == "0" ? "-" : wchan) \(cpu)"
        }
        return "threads: " + described.joined(separator: ", ")
    }

    /// How much the export holds and how long ago it last grew, and the hooks' counters.
    private func exportState() -> String {
        var st = stat()
        guard stat(exportPath, &st) == 0 else { return "no export file" }
        let age = Date().timeIntervalSince1970 - Double(st.st_mtim.tv_sec)
        let status = (try? String(contentsOfFile: (exportPath as NSString).deletingLastPathComponent + "/status.json", encoding: .utf8)) ?? ""
        let counters = status.split(separator: "\n").filter { $0.contains("\"lost\"") || $0.contains("\"posted\"") }
            .map { $0.trimmingCharacters(in: .whitespaces) }
        return "export \(st.st_size) bytes, \(linesRead) lines read, last written \(Int(age)) s ago; status \(counters.prefix(16).joined(separator: " "))"
    }

    private func readNew() {
        // rotated all the same (another inode by the name): the rest of the moved file first
        var st = stat()
        if stat(exportPath, &st) == 0 {
            if inode != 0 && st.st_ino != inode {
                readLines(from: exportPath + ".1")
                offset = 0
            }
            inode = st.st_ino
        }
        readLines(from: exportPath)
    }

    private var inode: ino_t = 0

    private func readLines(from path: String) {
        guard let h = FileHandle(forReadingAtPath: path) else { return }
        defer { try? h.close() }
        try? h.seek(toOffset: offset)
        let data = h.readDataToEndOfFile()
        guard let lastNewline = data.lastIndex(of: 10) else { return }
        let complete = data[data.startIndex...lastNewline]
        offset += UInt64(complete.count)
        for line in complete.split(separator: 10) {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else { continue }
            linesRead += 1
            if let exec = obj["process_exec"] as? [String: Any] {
                guard let p = (exec["process"] as? [String: Any])?["pid"] as? Int else { continue }
                execed.insert(Int32(p))
                // the whole chain the exec names: a process that forked without exec'ing (apt-get
                // running a hook) has no exec of its own to learn its parent from
                var chain = [p]
                if let pp = (exec["parent"] as? [String: Any])?["pid"] as? Int { chain.append(pp) }
                for a in (exec["ancestors"] as? [[String: Any]]) ?? [] { if let ap = a["pid"] as? Int { chain.append(ap) } }
                for (child, parent) in zip(chain, chain.dropFirst()) where child != parent { parentOf[Int32(child)] = Int32(parent) }
            } else if obj["process_exit"] == nil {
                pending.append(obj)
            }
        }
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}
