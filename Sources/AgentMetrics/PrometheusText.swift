import AgentRuntime
import Foundation
import PolicyEngine

/// The agent's counters in Prometheus' text exposition format (version 0.0.4), rendered from
/// one published snapshot per scrape. Names are `vigil_*`; where Tetragon has the same
/// concept the suffix and labels follow its metric (events_total by type, policy events,
/// tracingpolicy_loaded by state, process cache size/capacity/evictions).
public struct PrometheusText {
    public struct Context {
        public var version: String
        public var ready: Bool
        public var startedAt: Date
        /// Fleet mode's counters (nil: no --kvstore).
        public var fleet: FleetStats.Snapshot?
        public init(version: String, ready: Bool, startedAt: Date, fleet: FleetStats.Snapshot? = nil) {
            self.version = version
            self.ready = ready
            self.startedAt = startedAt
            self.fleet = fleet
        }
    }

    /// Families in the order first seen, each with its HELP/TYPE header and its samples:
    /// the format wants every sample of a family in one group.
    private var families: [(name: String, header: String, samples: [String])] = []
    private var index: [String: Int] = [:]

    private var out: String {
        families.map { $0.header + $0.samples.joined() }.joined()
    }

    public static func render(_ s: AgentStats.Snapshot, _ c: Context) -> String {
        var t = PrometheusText()
        t.sample("vigil_build_info", .gauge, "Vigil's version (always 1).", ["version": c.version], 1)
        t.sample("vigil_agent_ready", .gauge, "1 once every configured policy is attached, 0 while starting or stopping.", [:], c.ready ? 1 : 0)
        t.sample("vigil_agent_start_time_seconds", .gauge, "When the agent started (Unix time).", [:], c.startedAt.timeIntervalSince1970)

        for (type, n) in s.exportedByType.sorted(by: { $0.key < $1.key }) {
            t.sample("vigil_events_total", .counter, "Events exported, by event type.", ["type": type], Double(n))
        }
        if s.exportedByType.isEmpty { t.sample("vigil_events_total", .counter, "Events exported, by event type.", ["type": "PROCESS_EXEC"], 0) }
        let lost = "Records or events lost, by where (kernel: ring buffer full; reader: undecodable; subscriber: a slow API client's queue) and kind."
        for (kind, n) in s.kernelLostByKind.sorted(by: { $0.key < $1.key }) {
            t.sample("vigil_events_lost_total", .counter, lost, ["stage": "kernel", "kind": kind], Double(n))
        }
        t.sample("vigil_events_lost_total", .counter, lost, ["stage": "reader", "kind": "undecodable"], Double(s.decodeErrors))
        t.sample("vigil_events_lost_total", .counter, lost, ["stage": "subscriber", "kind": "all"], Double(s.subscriberDrops))
        t.sample("vigil_export_bytes_total", .counter, "Bytes written to the export sinks.", [:], Double(s.exportBytes))
        t.sample("vigil_api_subscribers", .gauge, "Live GetEvents streams.", [:], Double(s.subscribers))
        if let f = c.fleet, f.enabled {
            t.sample("vigil_kvstore_connected", .gauge, "1 while the fleet's etcd answers.", [:], f.connected ? 1 : 0)
            t.sample("vigil_kvstore_outages_total", .counter, "Times the connection to etcd was lost (enforcement went on).", [:], Double(f.outages))
            t.sample(
                "vigil_kvstore_relists_total", .counter, "Watches whose revision etcd had compacted, listed again (nothing missed).", [:],
                Double(f.relists))
            let applies = "Fleet policy generations this node loaded or failed to load."
            t.sample("vigil_fleet_policy_applies_total", .counter, applies, ["result": "loaded"], Double(f.applied))
            t.sample("vigil_fleet_policy_applies_total", .counter, applies, ["result": "error"], Double(f.failed))
        }

        // exposure (datapath): what a team tightens first is reach nobody uses, from the world above all
        for r in s.exposure {
            let l = ["endpoint": r.endpoint, "port": r.port]
            t.sample(
                "vigil_exposure_reachable_peers", .gauge, "Peers (groups, host, world, CIDRs; everyone) the policies let reach the endpoint's port.", l,
                Double(r.reachableFrom.count))
            t.sample(
                "vigil_exposure_unused_peers", .gauge, "Of those peers, the ones that did not connect within --exposure-window.", l, Double(r.unused.count))
            t.sample(
                "vigil_exposure_world_unused", .gauge, "1 where the world (or everyone) may reach the port and nobody from it connected within the window.", l,
                r.worldReachable && !r.connectedFrom.contains("world") ? 1 : 0)
            t.sample("vigil_exposure_connections", .gauge, "Inbound connections to the port within the window.", l, Double(r.connections))
        }

        t.sample("vigil_process_cache_size", .gauge, "Process images the agent's cache holds.", [:], Double(s.processCacheSize))
        t.sample("vigil_process_cache_capacity", .gauge, "The process cache's bound.", [:], Double(s.processCacheCapacity))
        t.sample("vigil_process_cache_evictions_total", .counter, "Entries dropped because the cache was full.", [:], Double(s.processCacheEvictions))
        t.sample(
            "vigil_process_cache_misses_total", .counter,
            "Kernel records whose process image the cache did not hold (reported with the pid's current image, or bare).", [:], Double(s.processCacheMisses))

        for m in s.maps {
            t.sample("vigil_map_entries", .gauge, "Entries a kernel table holds (refreshed every 15 s).", ["map": m.map], Double(m.entries))
            t.sample("vigil_map_capacity", .gauge, "The most entries a kernel table can hold.", ["map": m.map], Double(m.capacity))
        }

        // policies: state gauge (every state present, 0 or more), per-hook counters
        var states = ["enabled": 0, "partially_enabled": 0, "error": 0, "disabled": 0]
        for p in s.policies { states[Self.state(p), default: 0] += 1 }
        for (state, n) in states.sorted(by: { $0.key < $1.key }) {
            t.sample("vigil_tracingpolicy_loaded", .gauge, "Loaded policies by state.", ["state": state], Double(n))
        }
        for p in s.policies.sorted(by: { $0.name < $1.name }) {
            let mode = p.mode == "monitor" ? "monitor" : "enforce"
            for h in p.hooks {
                let l = ["policy": p.name, "hook": h.hook]
                t.sample("vigil_policy_events_total", .counter, "Events a policy's hook posted (its selectors matched).", l, Double(h.counters.posted))
                t.sample(
                    "vigil_policy_actions_total", .counter,
                    "Enforcing actions a policy's selectors took (kill, signal, deny); mode=monitor counts the ones they would have taken.",
                    l.merging(["mode": mode]) { a, _ in a }, Double(h.counters.actions))
                for (i, n) in (h.counters.selectorActions ?? []).enumerated() {
                    t.sample(
                        "vigil_policy_selector_actions_total", .counter,
                        "Enforcing actions by the selector (its index in the hook's selectors) that took them; mode=monitor: would have taken.",
                        l.merging(["mode": mode, "selector": "\(i)"]) { a, _ in a }, Double(n))
                }
                t.sample("vigil_hook_runs_total", .counter, "Times a hook's BPF program ran.", l, Double(h.counters.runs))
                if let n = h.counters.resolves {
                    t.sample(
                        "vigil_hook_file_resolves_total", .counter,
                        "Calls for which a hook resolved a file to its global path (the costly part of a file hook); the rest were decided before it.",
                        l, Double(n))
                }
                t.sample("vigil_hook_lost_total", .counter, "Records a hook could not queue (ring buffer full).", l, Double(h.counters.lost))
                if let ns = h.counters.nsPerRun {
                    t.sample(
                        "vigil_hook_run_seconds_total", .counter, "Time spent in a hook's BPF program (kernel.bpf_stats_enabled=1 only).", l,
                        Double(ns) * Double(h.counters.runs) / 1e9)
                }
            }
        }
        t.sample(
            "vigil_policy_set_hash", .gauge, "1, labelled with a hash of the loaded policies (names, modes, hooks): nodes that differ have drifted.",
            ["hash": Self.policySetHash(s.policies)], 1)
        return t.out
    }

    /// Tetragon's policy states: enabled, partially enabled (some hooks left out), error.
    static func state(_ p: PolicyStatus) -> String {
        if p.disabled { return "disabled" }
        if !p.hooks.allSatisfy({ $0.state == "attached" }) { return "error" }
        return p.skipped.isEmpty ? "enabled" : "partially_enabled"
    }

    /// FNV-1a over the sorted policies' names, modes and hook attach points.
    static func policySetHash(_ policies: [PolicyStatus]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        let text = policies.sorted { $0.name < $1.name }.map { p in
            "\(p.name)|\(p.mode)|" + p.hooks.map { "\($0.hook)@\($0.attachPoint)" }.joined(separator: ",")
        }
        .joined(separator: "\n")
        for b in text.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return String(h, radix: 16)
    }

    enum Kind: String {
        case counter
        case gauge
    }

    private mutating func sample(_ name: String, _ kind: Kind, _ help: String, _ labels: [String: String], _ value: Double) {
        var line = name
        if !labels.isEmpty {
            line += "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\(Self.escape($0.value))\"" }.joined(separator: ",") + "}"
        }
        line += " " + Self.number(value) + "\n"
        if let i = index[name] {
            families[i].samples.append(line)
        } else {
            index[name] = families.count
            families.append((name, "# HELP \(name) \(help)\n# TYPE \(name) \(kind.rawValue)\n", [line]))
        }
    }

    /// Label values escape backslash, double quote and newline (the format's rule).
    static func escape(_ v: String) -> String {
        v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func number(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }
}
