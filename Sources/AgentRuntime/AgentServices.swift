import Logging
import ServiceLifecycle
import Synchronization

/// The agent as one group of services with one lifecycle (swift-service-lifecycle): the drain
/// (the ring reader, on its own thread), the API servers, the metrics endpoint and the fleet
/// follower. Whichever ends first (the drain on SIGINT or SIGTERM, or a service that fails)
/// shuts the rest down gracefully, in the reverse of their order: the drain first, so what
/// the kernel still holds is read while the API can still answer, then the others.

/// The drain thread as a service: `agent.run()` on a thread of its own (the hot path never
/// runs on the concurrency pool); graceful shutdown asks the agent to stop and waits for the
/// thread to end. Holds only the thread's outcome, so it is Sendable without the agent being.
public final class AgentDrainService: Service, CustomStringConvertible {
    /// How the drain thread ended, and who waits for it.
    private final class Outcome: Sendable {
        let state = Mutex<(result: Result<Void, any Error>?, waiter: CheckedContinuation<Void, any Error>?)>((nil, nil))

        func finish(_ result: Result<Void, any Error>) {
            let waiter = state.withLock { o in
                o.result = result
                defer { o.waiter = nil }
                return o.waiter
            }
            waiter?.resume(with: result)
        }
    }
    private let outcome = Outcome()
    public var description: String { "drain" }

    /// Starts `agent.run()` on its own thread now; the agent is handed over whole. The thread
    /// ends right after `run()` returns (it has unloaded, detached and flushed by then).
    public init(running agent: sending Agent) {
        let outcome = self.outcome
        _ = OwnedThread {
            do {
                try agent.run()
                outcome.finish(.success(()))
            } catch {
                outcome.finish(.failure(error))
            }
        }
    }

    public func run() async throws {
        let outcome = self.outcome
        try await withGracefulShutdownHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let done = outcome.state.withLock { o -> Result<Void, any Error>? in
                    if o.result == nil { o.waiter = c }
                    return o.result
                }
                if let done { c.resume(with: done) }
            }
        } onGracefulShutdown: {
            Agent.stop()
        }
    }
}

/// A part that is already running (started, with its errors reported, before the group) and
/// stops when the group shuts down: the API servers, the metrics endpoint, the fleet follower.
public struct StoppingService: Service, CustomStringConvertible {
    public let description: String
    /// Stops the part (also called directly when a later part fails to start, before any group).
    public let stop: @Sendable () -> Void

    public init(_ name: String, stop: @escaping @Sendable () -> Void) {
        description = name
        self.stop = stop
    }

    public func run() async throws {
        // returns on graceful shutdown; on cancellation it throws, and the part stops all the same
        try? await gracefulShutdown()
        stop()
    }
}

extension ServiceGroup {
    /// The agent's group: `parts` in start order, the drain last (so it shuts down first).
    public static func agent(parts: [any Service], drain: any Service, logger: Logger) -> ServiceGroup {
        let all = parts + [drain]
        return ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: all.map {
                    .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup)
                },
                logger: logger))
    }
}
