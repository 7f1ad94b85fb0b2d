/// What the datapath's maps must hold for a set of endpoints and policies.
public struct DatapathState: Equatable, Sendable {
    /// IP prefix -> identity (longest prefix wins in the kernel).
    public var ipcache: [IPPrefix: Identity] = [:]
    /// Per endpoint id: the directions in which what no rule allows is dropped.
    public var enforcement: [UInt32: Set<TrafficDirection>] = [:]
    /// Per endpoint id: the directions in which only audit-mode policies deny what no rule
    /// allows (reported as AUDIT, forwarded).
    public var auditing: [UInt32: Set<TrafficDirection>] = [:]
    /// Endpoints in audit mode: they drop nothing, every would-be drop is reported.
    public var auditMode: Set<UInt32> = []
    public var entries: [PolicyEntry] = []
    /// rule id -> `namespace/policy ingress[0]`, for flow events.
    public var rules: [UInt32: String] = [:]
    /// CIDR identities in use (prefix -> identity), for `netpolicy list` and flow labels.
    public var cidrIdentities: [IPPrefix: Identity] = [:]
    /// toFQDNs: per endpoint, the names and patterns its rules select -> the selector's
    /// identity (the peer identity of those rules' entries).
    public var fqdnNames: [FQDNName: Identity] = [:]
    /// Endpoints with toFQDNs rules but no DNS-visible rule: no answer will ever be learned for them.
    public var fqdnWithoutDNS: Set<UInt32> = []

    /// The endpoints with toFQDNs rules (the kernel learns DNS answers for them).
    public var fqdnEndpoints: Set<UInt32> { Set(fqdnNames.keys.map(\.endpoint)) }

    public init() {}
}

/// One entry of the kernel's fqdn_names map.
public struct FQDNName: Hashable, Sendable {
    public var endpoint: UInt32
    public var selector: FQDNSelector
    public init(endpoint: UInt32, selector: FQDNSelector) {
        self.endpoint = endpoint
        self.selector = selector
    }
}

/// Turns policies into map entries for the endpoints that exist now. Pure and repeatable:
/// the agent runs it again whenever an endpoint or policy changes and writes the
/// difference. Keeps the numbering (CIDR identities, rule ids) stable between runs so
/// entries that did not change are not rewritten.
public final class PolicyResolver {
    private var cidrNumbers: [IPPrefix: Identity] = [:]
    private var nextCIDR = Identity.localScopeFlag | 1
    private var ruleNumbers: [String: UInt32] = [:]
    private var fqdnNumbers: [FQDNSelector: Identity] = [:]
    private var nextFQDN = Identity(Identity.fqdnSelectorBase.rawValue + 1)
    private var nextRule: UInt32 = 1

    public init() {}

    /// `hostAddresses`: the node's own addresses (identity host).
    /// `remote`: endpoints of other nodes (fleet mode): in the ipcache and matched as policy
    /// peers, never enforced here.
    public func resolve(endpoints: [EndpointModel], remote: [EndpointModel] = [], policies: [NetworkPolicy], hostAddresses: [IPPrefix]) -> DatapathState {
        var state = DatapathState()
        // ipcache: world by default, CIDR prefixes named by policies, the host, endpoints (most specific last wins)
        state.ipcache[IPPrefix(bytes: [0, 0, 0, 0], length: 0)] = .world
        state.ipcache[IPPrefix(bytes: [UInt8](repeating: 0, count: 16), length: 0)] = .world
        for prefix in Set(policies.flatMap(Self.cidrPrefixes)).sorted() where prefix.length > 0 {
            let id = cidrIdentity(prefix)
            state.ipcache[prefix] = id
            state.cidrIdentities[prefix] = id
        }
        for a in hostAddresses { state.ipcache[a] = .host }
        for e in remote { for a in e.addresses { state.ipcache[a] = e.identity } }
        for e in endpoints { for a in e.addresses { state.ipcache[a] = e.identity } }
        let peers = endpoints + remote

        for e in endpoints {
            var enforced: Set<TrafficDirection> = []
            var audited: Set<TrafficDirection> = []
            var entries: [PolicyEntry] = []
            for policy in policies where policy.selects(e.labels) {
                if policy.auditMode { audited.formUnion(policy.defaultDeny) } else { enforced.formUnion(policy.defaultDeny) }
                for rule in policy.rules {
                    let ruleID = ruleNumber("\(policy.key) \(rule.path)")
                    state.rules[ruleID] = "\(policy.key) \(rule.path)"
                    let peers: Set<Identity> =
                        rule.peers.isEmpty
                        ? [.any]
                        : Set(rule.peers.flatMap { identities(of: $0, policy: policy, endpoints: peers, state: state) })
                    for case .fqdn(let selector) in rule.peers {
                        state.fqdnNames[FQDNName(endpoint: e.id, selector: selector)] = fqdnIdentity(selector)
                    }
                    let matches = rule.ports.isEmpty ? [ProtoPortPrefix(proto: 0, port: 0, bits: 0)] : rule.ports.flatMap(Self.prefixes)
                    let dnsVisible = Set(rule.dnsVisiblePorts.flatMap(Self.prefixes))
                    for peer in peers {
                        for m in matches {
                            entries.append(
                                PolicyEntry(
                                    endpoint: e.id, direction: rule.direction, identity: peer, match: m, deny: rule.deny, ruleID: ruleID,
                                    audit: rule.deny && policy.auditMode, dns: !rule.deny && dnsVisible.contains(m)))
                        }
                    }
                }
            }
            state.enforcement[e.id] = enforced
            state.auditing[e.id] = audited.subtracting(enforced)
            if e.auditMode { state.auditMode.insert(e.id) }
            let resolved = Self.denyWins(entries)
            if state.fqdnNames.keys.contains(where: { $0.endpoint == e.id }) && !resolved.contains(where: \.dns) {
                state.fqdnWithoutDNS.insert(e.id)
            }
            state.entries += resolved
        }
        return state
    }

    /// Within one (endpoint, direction, identity), the kernel takes the longest match: an
    /// allow nested inside a deny would win there, so it is dropped (the deny then matches);
    /// so is an audit-mode deny nested inside an enforced deny (it would forward what the
    /// enforced one drops). Across identities the kernel checks both the peer's and the
    /// wildcard's entry and lets an enforced deny, then an audit-mode deny, in either win. Of
    /// two entries with the same key the stronger is kept.
    static func denyWins(_ entries: [PolicyEntry]) -> [PolicyEntry] {
        struct Space: Hashable {
            let endpoint: UInt32
            let direction: TrafficDirection
            let identity: Identity
        }
        var out: [PolicyEntry] = []
        for (_, group) in Dictionary(grouping: entries, by: { Space(endpoint: $0.endpoint, direction: $0.direction, identity: $0.identity) }) {
            let denies = group.filter(\.deny)
            var byMatch: [ProtoPortPrefix: PolicyEntry] = [:]
            for e in group.sorted(by: { ($0.strength, $0.ruleID) < ($1.strength, $1.ruleID) }) {
                if let kept = byMatch[e.match] {  // the strongest entry of this key
                    // two allows of one key: DNS-visible when either rule is
                    if !kept.deny && e.dns { byMatch[e.match]!.dns = true }
                    continue
                }
                if denies.contains(where: { $0.strength < e.strength && $0.match.contains(e.match) }) { continue }
                byMatch[e.match] = e
            }
            out += byMatch.values
        }
        return out.sorted {
            ($0.endpoint, $0.direction.rawValue, $0.identity.rawValue, $0.match) < ($1.endpoint, $1.direction.rawValue, $1.identity.rawValue, $1.match)
        }
    }

    static func prefixes(_ p: PortRange) -> [ProtoPortPrefix] {
        let protos: [UInt8] = p.proto == .any ? (p.isAnyPort ? [0] : [6, 17, 132]) : [p.proto.number]
        return protos.flatMap { proto in
            proto == 0 ? [ProtoPortPrefix(proto: 0, port: 0, bits: 0)] : ProtoPortPrefix.blocks(proto: proto, range: p.first...p.last)
        }
    }

    static func cidrPrefixes(_ policy: NetworkPolicy) -> [IPPrefix] {
        policy.rules.flatMap { $0.peers }.flatMap { peer -> [IPPrefix] in
            if case .cidr(let p, let except) = peer { return [p] + except }
            return []
        }
    }

    private func cidrIdentity(_ prefix: IPPrefix) -> Identity {
        if let id = cidrNumbers[prefix] { return id }
        let id = Identity(nextCIDR)
        nextCIDR += 1
        cidrNumbers[prefix] = id
        return id
    }

    private func fqdnIdentity(_ selector: FQDNSelector) -> Identity {
        if let id = fqdnNumbers[selector] { return id }
        let id = nextFQDN
        nextFQDN = Identity(nextFQDN.rawValue + 1)
        fqdnNumbers[selector] = id
        return id
    }

    /// Numbers an earlier agent gave selectors (by kernel key): addresses it learned stay with
    /// the selector they were learned for; new selectors are numbered above them.
    public func adoptFQDNSelectors(_ numbers: [String: Identity], highestInUse: Identity? = nil) {
        if let h = highestInUse, h.isFQDNSelector, h.rawValue >= nextFQDN.rawValue { nextFQDN = Identity(h.rawValue + 1) }
        for (key, id) in numbers {
            guard id.isFQDNSelector, case .success(let s) = FQDNSelector.parse(key, pattern: true) else { continue }
            fqdnNumbers[s] = id
            if id.rawValue >= nextFQDN.rawValue { nextFQDN = Identity(id.rawValue + 1) }
        }
    }

    /// The toFQDNs selector an identity stands for (flow events, `netpolicy list`).
    public func fqdnSelector(of identity: Identity) -> FQDNSelector? { fqdnNumbers.first { $0.value == identity }?.key }

    private func ruleNumber(_ key: String) -> UInt32 {
        if let n = ruleNumbers[key] { return n }
        ruleNumbers[key] = nextRule
        nextRule += 1
        return nextRule - 1
    }

    /// The identities a peer stands for, given what exists now.
    func identities(of peer: Peer, policy: NetworkPolicy, endpoints: [EndpointModel], state: DatapathState) -> [Identity] {
        switch peer {
        case .endpoints(let selector, let namespace):
            // an endpoint still waiting for its fleet number runs as reserved:init: no label
            // selector names it until it has its own identity (only the `init` entity does)
            return endpoints.filter { e in
                e.identity != .initializing && (namespace == nil || e.namespace == namespace) && selector.matches(e.labels)
            }.map(\.identity)
        case .cidr(let prefix, let except):
            var ids = state.cidrIdentities.filter { p, _ in prefix.contains(p) && !except.contains { $0.contains(p) } }.map(\.value)
            if prefix.length == 0 { ids.append(.world) }
            return ids
        case .entity(let entity):
            switch entity {
            case .all: return [.any]
            case .world: return [.world] + state.cidrIdentities.values
            case .cluster: return endpoints.map(\.identity) + [.host, .remoteNode, .health, .initializing, .unmanaged, .kubeAPIServer, .ingress]
            case .host: return [.host]
            case .remoteNode: return [.remoteNode]
            case .health: return [.health]
            case .unmanaged: return [.unmanaged]
            case .kubeAPIServer: return [.kubeAPIServer]
            case .`init`: return [.initializing]
            case .ingress: return [.ingress]
            }
        case .fqdn(let selector):
            return [fqdnIdentity(selector)]
        }
    }
}
