import Foundation
import NetworkPolicy
import Synchronization

/// The parts of a running agent other threads may hold (the API server): its event bus, its
/// request queue and its readiness. Everything else stays on the agent's loop.
public struct AgentHandle: Sendable {
    public let bus: EventBus
    public let control: AgentControl
    public let readiness: Readiness
    public let stats: AgentStats
    /// Fleet mode's counters (all zero without --kvstore).
    public let fleet: FleetStats
    /// Fleet mode with the datapath: the cluster identities the fleet service fills.
    public let identities: ClusterIdentities?
    public let configuration: AgentConfiguration
    public let startedAt: Date
}

/// Starting, ready (every configured policy attached), or stopping.
public final class Readiness: Sendable {
    public enum State: Int, Sendable {
        case starting = 0
        case ready = 1
        case stopping = 2
    }
    private let state = Atomic<Int>(State.starting.rawValue)
    public let startedAt = Date()

    public init() {}

    public var current: State { State(rawValue: state.load(ordering: .acquiring)) ?? .starting }
    func markReady() { state.store(State.ready.rawValue, ordering: .releasing) }
    func markStopping() { state.store(State.stopping.rawValue, ordering: .releasing) }
}
