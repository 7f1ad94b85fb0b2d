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
        // a small ring: any stall of the drain longer than ~0.3 s at this rate overflows it
        let agent = try AgentHarness(extraArguments: ["--rb-size", "1M", "--disable-network-sensor"], policies: [every])
        let rate = 20_000
        let running = Atomic<Bool>(true)
        let calls = Atomic<Int>(0)
        let load = Thread {
            let start = DispatchTime.now().uptimeNanoseconds
            var done = 0
            while running.load(ordering: .relaxed) {
                let due = Int(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 * Double(rate))
                while done < due {
                    _ = getppid()
                    done += 1
                }
                usleep(500)
            }
            calls.store(done, ordering: .releasing)
        }
        load.start()
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
        running.store(false, ordering: .relaxed)
        while load.isExecuting || !load.isFinished { usleep(10_000) }
        let made = calls.load(ordering: .acquiring)
        // the test proves something only if the load outlasted what the ring can hold
        XCTAssertGreaterThan(loadSeconds, 0.5, "the add took \(loadSeconds) s: too short to stall a 1 MiB ring at \(rate)/s")
        // every call the kernel posted is exported, and nothing was lost on the way
        let deadline = Date().addingTimeInterval(KernelTest.eventTimeout)
        var exported = 0
        var lost: [[String: Any]] = []
        repeat {
            usleep(200_000)
            let events = try agent.events()
            exported = events.filter { (($0["process_tracepoint"] as? [String: Any])?["policy_name"] as? String) == "every-getppid" }.count
            lost = events.compactMap { $0["lost_events"] as? [String: Any] }
        } while exported < made && Date() < deadline
        agent.stop()
        XCTAssertEqual(lost.count, 0, "no record lost while the policy loaded: \(lost)")
        XCTAssertGreaterThanOrEqual(exported, made, "\(made) getppid calls, \(exported) events exported (the add took \(loadSeconds) s)")
        XCTAssertTrue(agent.stderrText().contains("policy added through the API"))
    }
}
