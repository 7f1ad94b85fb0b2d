/// The datapath's decision for one packet, computed in user space from the same map entries
/// the kernel gets (bpf/progs/datapath.bpf.c `decide`): for checking suggested policies
/// against observed flows before they go anywhere near an endpoint.
public struct PolicyVerdict: Equatable, Sendable {
    public enum Outcome: String, Sendable {
        case forwarded, dropped, audited
    }
    public var outcome: Outcome
    /// the rule that decided, nil for the endpoint's default
    public var ruleID: UInt32?

    /// The identity the ipcache gives `address` (longest prefix wins, as in the kernel).
    public static func identity(of address: [UInt8], in state: DatapathState) -> Identity {
        let host = IPPrefix(bytes: address, length: address.count * 8)
        var best: (Int, Identity) = (-1, .world)
        for (prefix, id) in state.ipcache where prefix.address.count == address.count && prefix.length > best.0 && prefix.contains(host) {
            best = (prefix.length, id)
        }
        return best.1
    }

    /// What endpoint `endpoint` does with traffic in `direction` with `peer` to `proto`/`port`:
    /// the longest-matching entry for the peer and for any peer; an enforced deny in either
    /// wins, then an audit-mode deny, then an allow; with none, a toFQDNs selector matching one
    /// of `names` (the DNS names the peer's address was learned under, egress) with an allow;
    /// with none, the endpoint's default.
    public static func decide(
        _ state: DatapathState, endpoint: UInt32, direction: TrafficDirection, peer: Identity, proto: UInt8, port: UInt16, names: [String] = []
    )
        -> PolicyVerdict
    {
        let packet = ProtoPortPrefix(proto: proto, port: port, bits: 32)
        func lookup(_ identity: Identity) -> PolicyEntry? {
            state.entries.filter { $0.endpoint == endpoint && $0.direction == direction && $0.identity == identity && $0.match.contains(packet) }
                .max { $0.match.bits < $1.match.bits }
        }
        let exact = lookup(peer)
        let wild = peer == .any ? nil : lookup(.any)
        let auditAll = state.auditMode.contains(endpoint)
        for e in [exact, wild].compactMap({ $0 }) where e.deny && !e.audit {
            return PolicyVerdict(outcome: auditAll ? .audited : .dropped, ruleID: e.ruleID)
        }
        for e in [exact, wild].compactMap({ $0 }) where e.deny {
            return PolicyVerdict(outcome: .audited, ruleID: e.ruleID)
        }
        if let allow = exact ?? wild { return PolicyVerdict(outcome: .forwarded, ruleID: allow.ruleID) }
        // answers are learned only with a DNS-visible rule, as in the kernel
        if direction == .egress && !state.fqdnWithoutDNS.contains(endpoint) {
            for (n, selector) in state.fqdnNames where n.endpoint == endpoint && names.contains(where: n.selector.matches) {
                if let allow = lookup(selector), !allow.deny { return PolicyVerdict(outcome: .forwarded, ruleID: allow.ruleID) }
            }
        }
        if state.enforcement[endpoint]?.contains(direction) ?? false { return PolicyVerdict(outcome: auditAll ? .audited : .dropped, ruleID: nil) }
        if state.auditing[endpoint]?.contains(direction) ?? false { return PolicyVerdict(outcome: .audited, ruleID: nil) }
        return PolicyVerdict(outcome: .forwarded, ruleID: nil)
    }
}
