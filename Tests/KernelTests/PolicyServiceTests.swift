import Foundation
import Synchronization
import XCTest

// kernel-test-host-only: what this shows is the agent's threads (a policy loads on its own thread while the drain goes on); the guests' emulated CPUs cannot hold the event rate that makes a stalled drain overflow the ring.

/// Policies load on the agent's policy thread, never on the drain thread: adding a policy
/// whose hooks take the verifier seconds costs no event. Before, the load ran between two
/// polls of the ring buffer; at 20,000 events/s into a 1 MiB ring an AddTracingPolicy of
/// fim-sensitive-files lost 69,030 of 160,000 events.
final class PolicyServiceTests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    func testAddingAPolicyUnderLoadLosesNoEvent() throws {
        try KernelTest.require(.tracepoint)
        try KernelTest.require(.ringBuffer)
        let every = """
            apiVersion: cilium.io/v1alpha1
            kind: TracingPolicy
            metadata:
              name: every-getppid
            spec:
              tracepoints:
              - subsystem: syscalls
                event: sys_enter_getppid
            """
        // a small ring: a stall of the drain longer than ~1.2 s at this rate overflows it (the
        // load takes ~10 s, which a drain that loaded it would lose)
        let agent = try AgentHarness(extraArguments: ["--rb-size", "4M", "--disable-network-sensor"], policies: [every])
        let rate = 20_000
        // The calls come from a small grandchild, not from this test process nor a child of
        // it: every event carries its process's and its parent's arguments, and under
        // `swift test --skip ...` this process's are the whole list of tests (~15 KB): 20,000
        // such events a second are ~380 MB/s of JSON, more than the drain writes (CI lost
        // 47,936 records; reproduced here, the export rotating four times in the test). A shell in between is
        // the parent (it waits, so it does not exec python in its place).
        // The python makes `rate` calls a second until its stdin closes, then prints how many.
        let load = Process()
        load.executableURL = URL(fileURLWithPath: "/bin/sh")
        load.arguments = [
            "-c", "python3 -c \"$0\" \"$1\"; exit $?",
            """
            import os, select, sys, time
            rate, start, done = int(sys.argv[1]), time.monotonic(), 0
            while not select.select([sys.stdin], [], [], 0)[0]:
                due = int((time.monotonic() - start) * rate)
                while done < due:
                    os.getppid()
                    done += 1
                time.sleep(0.0005)
            print(done)
            """,
            "\(rate)",
        ]
        let stdin = Pipe()
        let stdout = Pipe()
        load.standardInput = stdin
        load.standardOutput = stdout
        // a timeline for the failure message: whether the hook stopped running (its counters) or
        // the agent stopped exporting (the export's size), and when
        let began0 = Date()
        let timeline = Mutex<[String]>([])
        let watching = Atomic<Bool>(true)
        let exportPath = agent.exportPath
        let statusPath = agent.statusPath
        let watcher = Thread {
            while watching.load(ordering: .relaxed) {
                let size = (try? FileManager.default.attributesOfItem(atPath: exportPath)[.size] as? Int) ?? -1
                let status = (try? Data(contentsOf: URL(fileURLWithPath: statusPath))).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
                let policies = status?["policies"] as? [[String: Any]] ?? []
                let hook = (policies.first { ($0["name"] as? String) == "every-getppid" }?["hooks"] as? [[String: Any]])?.first
                let counters = (hook?["counters"] as? [String: Any])?.compactMapValues { $0 as? Int } ?? [:]
                let line = String(
                    format: "%.1fs export=%dB runs=%d posted=%d lost=%d", Date().timeIntervalSince(began0), size,
                    counters["runs"] ?? -1, counters["posted"] ?? -1, counters["lost"] ?? -1)
                timeline.withLock { $0.append(line) }
                usleep(500_000)
            }
        }
        watcher.start()
        try load.run()
        usleep(500_000)
        // the library's FIM policy: dozens of hooks through the verifier
        let began = Date()
        let add = Process()
        add.executableURL = URL(fileURLWithPath: APICommandLineTests.vigil)
        add.arguments = [
            "tracingpolicy", "add", Self.repository + "/policies/fim-sensitive-files.yaml", "--server-address", "unix://" + agent.socketPath,
        ]
        add.standardOutput = FileHandle.nullDevice
        try add.run()
        add.waitUntilExit()
        let loadSeconds = Date().timeIntervalSince(began)
        XCTAssertEqual(add.terminationStatus, 0, "the policy loads")
        usleep(500_000)
        try stdin.fileHandleForWriting.close()
        load.waitUntilExit()
        let made = try XCTUnwrap(
            Int(String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
        XCTAssertGreaterThan(made, rate, "the load ran")
        // the test proves something only if the load outlasted what the ring can hold
        XCTAssertGreaterThan(loadSeconds, 3, "the add took \(loadSeconds) s: too short to stall a 4 MiB ring at \(rate)/s")
        // every call the kernel posted is exported, and nothing was lost on the way
        // (a generous wait: it ends as soon as all are there; a drain that stalled gets the time
        // to catch up and report its loss, so a failure says which it was)
        let deadline = Date().addingTimeInterval(max(KernelTest.eventTimeout, 20))
        var exported = 0
        var lost: [[String: Any]] = []
        repeat {
            usleep(200_000)
            let events = try agent.events(includingBackups: true)
            exported =
                events.filter {
                    let e = $0["process_tracepoint"] as? [String: Any]
                    return e?["policy_name"] as? String == "every-getppid" && (e?["parent"] as? [String: Any])?["pid"] as? Int == Int(load.processIdentifier)
                }.count
            lost = events.compactMap { $0["lost_events"] as? [String: Any] }
        } while exported < made && Date() < deadline
        watching.store(false, ordering: .relaxed)
        while watcher.isExecuting { usleep(10_000) }
        agent.stop()
        let log = agent.stderrText()
        let story = timeline.withLock { $0.joined(separator: "\n") } + "\nagent log:\n" + log
        XCTAssertEqual(lost.count, 0, "no record lost while the policy loaded: \(lost)")
        XCTAssertGreaterThanOrEqual(exported, made, "\(made) getppid calls, \(exported) events exported (the add took \(loadSeconds) s)\n\(story)")
        XCTAssertTrue(log.contains("policy added through the API"))
    }
}
