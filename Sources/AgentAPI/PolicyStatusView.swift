import AgentRuntime
import PolicyEngine
import TetragonAPI

/// A loaded policy as ListTracingPolicies shows it.
enum PolicyStatusView {
    static func message(_ view: PolicyService.PolicyView, id: Int) -> Tetragon_TracingPolicyStatus {
        let st = view.status
        var m = Tetragon_TracingPolicyStatus()
        m.id = UInt64(id)
        m.name = st.name
        m.info = view.owner == "api" ? "added through the API" : "from \(view.owner)"
        m.sensors = st.hooks.map { "\($0.tier):\($0.attachPoint)" }
        let attached = st.hooks.allSatisfy { $0.state == "attached" }
        m.enabled = attached && !st.disabled
        m.state = st.disabled ? .tpStateDisabled : attached ? .tpStateEnabled : .tpStateError
        m.error =
            st.disabled || attached
            ? st.skipped.joined(separator: "; ") : "hooks detached: " + st.hooks.filter { $0.state != "attached" }.map(\.hook).joined(separator: ", ")
        let enforcing = st.mode == "enforce"
        m.mode = enforcing ? .tpModeEnforce : .tpModeMonitor
        var counters = Tetragon_TracingPolicyActionCounters()
        counters.post = st.hooks.reduce(0) { $0 + $1.counters.posted }
        // the kernel counts the enforcing actions its selectors took (kill, signal, override);
        // in monitor mode they are the actions it would have taken
        let acted = st.hooks.reduce(0) { $0 + $1.counters.actions }
        if enforcing { counters.signal = acted } else { counters.monitorSignal = acted }
        var stats = Tetragon_TracingPolicyStats()
        stats.actionCounters = counters
        m.stats = stats
        return m
    }
}
