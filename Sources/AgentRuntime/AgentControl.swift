import Dispatch
import Synchronization

/// Work other threads (the API, the fleet, SIGHUP) ask of the agent's policies. The policies
/// belong to the policy thread (PolicyService), so a request is queued here and run there, in
/// order, never on the drain thread: a load's seconds in the verifier cost no event.
public final class AgentControl: Sendable {
    private let queue = Mutex<(work: [@Sendable (PolicyService?) -> Void], closed: Bool)>(([], false))
    private let wake = DispatchSemaphore(value: 0)

    public init() {}

    /// Runs `work` on the policy thread and returns its result.
    public func perform<T: Sendable>(_ work: @escaping @Sendable (PolicyService) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, Error>) in
            let accepted = enqueue { service in
                guard let service else { return c.resume(throwing: AgentStopped()) }
                do { c.resume(returning: try work(service)) } catch { c.resume(throwing: error) }
            }
            if !accepted { c.resume(throwing: AgentStopped()) }
        }
    }

    /// Queues `work` without waiting for it (SIGHUP's reload); false once the agent stops.
    @discardableResult
    func post(_ work: @escaping @Sendable (PolicyService) -> Void) -> Bool {
        enqueue { service in if let service { work(service) } }
    }

    private func enqueue(_ work: @escaping @Sendable (PolicyService?) -> Void) -> Bool {
        let accepted = queue.withLock { q in
            guard !q.closed else { return false }
            q.work.append(work)
            return true
        }
        if accepted { wake.signal() }
        return accepted
    }

    /// The policy thread's side: waits up to `timeoutMs` for a request; false once closed.
    func waitForWork(timeoutMs: Int) -> Bool {
        _ = wake.wait(timeout: .now() + .milliseconds(timeoutMs))
        return !queue.withLock { $0.closed }
    }

    /// The policy thread's side: runs what is queued, in order.
    func runPending(on service: PolicyService) {
        let work = queue.withLock { q in
            defer { q.work.removeAll() }
            return q.work
        }
        for w in work { w(service) }
    }

    /// The agent stops: what is queued, and what comes later, fails with AgentStopped; the
    /// policy thread wakes up and ends.
    func close() {
        let work = queue.withLock { q in
            q.closed = true
            defer { q.work.removeAll() }
            return q.work
        }
        for w in work { w(nil) }
        wake.signal()
    }
}

/// The agent is stopping or stopped: the request was not carried out.
public struct AgentStopped: Error, CustomStringConvertible {
    public var description: String { "the agent is stopping" }
}
