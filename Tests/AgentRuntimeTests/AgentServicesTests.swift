import Logging
import ServiceLifecycle
import Synchronization
import XCTest

@testable import AgentRuntime

/// The agent's parts as one group: when the drain ends (the agent was told to stop), every
/// other part stops, in the reverse of their start order; a part that fails stops the rest.
final class AgentServicesTests: XCTestCase {
    struct Ends: Service {
        let after: Duration
        let failing: Bool
        struct Failed: Error {}
        func run() async throws {
            try await Task.sleep(for: after)
            if failing { throw Failed() }
        }
    }

    func testTheDrainEndingStopsEveryPartInReverseOrder() throws {
        let stopped = Mutex<[String]>([])
        let parts = ["api", "metrics", "fleet"].map { name in StoppingService(name, stop: { stopped.withLock { $0.append(name) } }) }
        let group = ServiceGroup.agent(parts: parts, drain: Ends(after: .milliseconds(50), failing: false), logger: Logger(label: "test"))
        let done = expectation(description: "group ends")
        Task {
            try await group.run()
            done.fulfill()
        }
        wait(for: [done], timeout: 10)
        XCTAssertEqual(stopped.withLock { $0 }, ["fleet", "metrics", "api"])
    }

    func testAFailingPartStopsTheOthersAndItsErrorComesOut() throws {
        let stopped = Mutex<[String]>([])
        let api = StoppingService("api", stop: { stopped.withLock { $0.append("api") } })
        let group = ServiceGroup.agent(
            parts: [api, Ends(after: .milliseconds(30), failing: true)], drain: StoppingService("drain", stop: { stopped.withLock { $0.append("drain") } }),
            logger: Logger(label: "test"))
        let failed = expectation(description: "group fails")
        Task {
            do { try await group.run() } catch is Ends.Failed { failed.fulfill() }
        }
        wait(for: [failed], timeout: 10)
        XCTAssertEqual(stopped.withLock { $0 }, ["drain", "api"])
    }
}
