import Synchronization

/// Work other threads (the API) ask of the running agent. The agent's state (its policies,
/// process cache, sinks) belongs to its loop, so a request is queued here and run by the loop
/// between two polls (at most 100 ms later), never concurrently with the drain.
public final class AgentControl: Sendable {
    private let queue = Mutex<(work: [@Sendable (Agent?) -> Void], closed: Bool)>(([], false))

    public init() {}

    /// Runs `work` on the agent's loop and returns its result.
    public func perform<T: Sendable>(_ work: @escaping @Sendable (Agent) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
            let accepted = queue.withLock { q in
                guard !q.closed else { return false }
                q.work.append { agent in
                    guard let agent else { return c.resume(throwing: AgentStopped()) }
                    do { c.resume(returning: try work(agent)) } catch { c.resume(throwing: error) }
                }
                return true
            }
            if !accepted { c.resume(throwing: AgentStopped()) }
        }
    }

    /// The loop's side: runs what is queued, in order.
    func runPending(on agent: Agent) {
        let work = queue.withLock { q in
            defer { q.work.removeAll() }
            return q.work
        }
        for w in work { w(agent) }
    }

    /// The agent stopped: what is queued, and what comes later, fails with AgentStopped.
    func close() {
        let work = queue.withLock { q in
            q.closed = true
            defer { q.work.removeAll() }
            return q.work
        }
        for w in work { w(nil) }
    }
}

/// The agent is stopping or stopped: the request was not carried out.
public struct AgentStopped: Error, CustomStringConvertible {
    public var description: String { "the agent is stopping" }
}
