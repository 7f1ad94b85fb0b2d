/// Writes CiliumNetworkPolicy YAML that allows what was observed, in the pattern teams adopt
/// default deny with: one policy per group of endpoints (endpoints sharing the value of one
/// label, `app` by default) allowing traffic within the group, ingress per exposed port from
/// the groups that used it, egress to the groups, host and external addresses it reached; and
/// per namespace a baseline allowing every endpoint egress to shared services (a port that
/// `sharedMinimum` or more groups reach). Rules are coarse: peers that use the same ports share
/// one rule. Dropped flows are not allowed (someone decided against them); audited ones are.
public struct PolicySuggester: Sendable {
    public var groupLabel: String
    public var sharedMinimum: Int

    public init(groupLabel: String = "app", sharedMinimum: Int = 2) {
        self.groupLabel = groupLabel
        self.sharedMinimum = sharedMinimum
    }

    /// The YAML and, per rule, how many observed flows it allows.
    public struct Suggestion: Sendable {
        public var yaml: String
        public var rules: [(policy: String, rule: String, flows: Int)]
        public var policies: Int
    }

    /// A group of endpoints: a namespace and the group label's value (nil: endpoints without
    /// the label are grouped by all their labels).
    struct Group: Hashable, Comparable {
        var namespace: String
        var value: String?
        var labels: [String: String]

        static func < (a: Group, b: Group) -> Bool { (a.namespace, a.value ?? "", a.labels.description) < (b.namespace, b.value ?? "", b.labels.description) }
    }

    /// Who is on the other side of a rule.
    enum PeerKey: Hashable, Comparable {
        case group(Group)
        case entity(String)
        case address(String)
        /// an outside address reached by a DNS name (toFQDNs matchName)
        case name(String)

        var order: String {
            switch self {
            case .group(let g): "0 \(g.namespace) \(g.value ?? g.labels.description)"
            case .entity(let e): "1 \(e)"
            case .address(let a): "2 \(a)"
            case .name(let n): "3 \(n)"
            }
        }

        var isName: Bool { if case .name = self { true } else { false } }
        static func < (a: PeerKey, b: PeerKey) -> Bool { a.order < b.order }
    }

    struct PortKey: Hashable, Comparable {
        var proto: PortRange.Proto
        var port: UInt16
        /// every protocol and port (the rule within a group)
        static let all = PortKey(proto: .any, port: 0)
        static func < (a: PortKey, b: PortKey) -> Bool { (a.proto.rawValue, a.port) < (b.proto.rawValue, b.port) }
    }

    func group(of e: ObservedFlow.End) -> Group {
        let own = e.labels.filter { $0.key != Labels.namespaceKey }
        if let v = own[groupLabel] { return Group(namespace: e.namespace, value: v, labels: [groupLabel: v]) }
        return Group(namespace: e.namespace, value: nil, labels: own)
    }

    func peer(of f: ObservedFlow) -> PeerKey {
        if f.remote.isEndpoint { return .group(group(of: f.remote)) }
        if let r = f.remote.reserved, r != "world" { return .entity(r) }
        // a peer outside: inbound from the world is any address; outbound, the DNS name it was
        // reached by (its address may change), else the address
        if f.direction == .ingress { return .entity("world") }
        if let name = f.remote.names.sorted().first { return .name(name) }
        return .address(f.remote.addressText + "/32")
    }

    public func suggest(_ observed: [ObservedFlow]) -> Suggestion {
        let flows = observed.filter { $0.verdict != .dropped && $0.local.isEndpoint }
        // a service is shared when this many groups reach the port
        var clients: [Group: [PortKey: Set<Group>]] = [:]
        for f in flows where f.direction == .egress && f.remote.isEndpoint {
            clients[group(of: f.remote), default: [:]][PortKey(proto: f.proto, port: f.port), default: []].insert(group(of: f.local))
        }
        func isShared(_ g: Group, _ p: PortKey) -> Bool { (clients[g]?[p]?.count ?? 0) >= sharedMinimum }

        // per policy (a group, or a namespace's baseline) and direction: peer -> ports -> flows
        struct Key: Hashable {
            var group: Group?
            var namespace: String
            var direction: TrafficDirection
        }
        var table: [Key: [PeerKey: [PortKey: Int]]] = [:]
        for f in flows {
            let g = group(of: f.local)
            let p = peer(of: f)
            let port = PortKey(proto: f.proto, port: f.port)
            if case .group(let other) = p, other == g {
                table[Key(group: g, namespace: g.namespace, direction: f.direction), default: [:]][p, default: [:]][.all, default: 0] += 1
            } else if f.direction == .egress, case .group(let service) = p, isShared(service, port) {
                table[Key(group: nil, namespace: g.namespace, direction: .egress), default: [:]][p, default: [:]][port, default: 0] += 1
            } else {
                table[Key(group: g, namespace: g.namespace, direction: f.direction), default: [:]][p, default: [:]][port, default: 0] += 1
            }
        }
        // every group gets its policy (its default deny), with the rule within the group
        for f in flows {
            let g = group(of: f.local)
            for d in TrafficDirection.allCases where table[Key(group: g, namespace: g.namespace, direction: d)]?[.group(g)] == nil {
                table[Key(group: g, namespace: g.namespace, direction: d), default: [:]][.group(g), default: [:]][.all, default: 0] += 0
            }
        }

        var yaml = ""
        var rules: [(policy: String, rule: String, flows: Int)] = []
        let groups = Set(table.keys.compactMap(\.group)).sorted()
        let baselines = Set(table.keys.filter { $0.group == nil }.map(\.namespace)).sorted()
        var policyCount = 0
        func emit(name: String, namespace: String, selector: [String: String], header: String) {
            policyCount += 1
            yaml += "---\n# \(header)\napiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\n"
            yaml += "metadata: {name: \(Self.quote(name)), namespace: \(Self.quote(namespace))}\nspec:\n"
            yaml += "  endpointSelector: {matchLabels: \(Self.mapping(selector))}\n"
            let g = groups.first { Self.policyName($0) == name && $0.namespace == namespace }
            for d in TrafficDirection.allCases {
                guard let peers = table[Key(group: g, namespace: namespace, direction: d)], !peers.isEmpty else { continue }
                yaml += "  \(d.rawValue):\n"
                // peers with the same ports share a rule (names their own: toFQDNs stands alone)
                struct RuleKey: Hashable {
                    var ports: [PortKey]
                    var names: Bool
                }
                var byPorts: [RuleKey: [PeerKey]] = [:]
                for (peer, ports) in peers {
                    // all ports subsume single ones
                    byPorts[RuleKey(ports: ports.keys.contains(.all) ? [] : ports.keys.sorted(), names: peer.isName), default: []].append(peer)
                }
                // names are learned only from DNS answers a DNS-visible rule lets through
                let usesNames = d == .egress && peers.keys.contains { $0.isName }
                for (index, (key, peerList)) in byPorts.sorted(by: { $0.value.min()! < $1.value.min()! }).enumerated() {
                    let count = peerList.reduce(0) { n, p in n + (peers[p]?.values.reduce(0, +) ?? 0) }
                    let path = "spec.\(d.rawValue)[\(index)]"
                    rules.append((policy: "\(namespace)/\(name)", rule: path, flows: count))
                    yaml += Self.rule(
                        direction: d, peers: peerList.sorted(), ports: key.ports, policyNamespace: namespace, flows: count, dnsVisible: usesNames)
                }
            }
        }
        for g in groups {
            emit(
                name: Self.policyName(g), namespace: g.namespace, selector: g.labels,
                header:
                    "the \(g.value.map { "\(groupLabel)=\($0)" } ?? "endpoints labelled \(g.labels)") group: within the group, its exposed ports, what it reaches"
            )
        }
        for ns in baselines {
            emit(
                name: "baseline-shared-services", namespace: ns, selector: [:],
                header: "every endpoint of \(ns): egress to services \(sharedMinimum) or more groups use")
        }
        return Suggestion(yaml: yaml, rules: rules, policies: policyCount)
    }

    static func policyName(_ g: Group) -> String {
        let raw = "suggested-" + (g.value ?? g.labels.keys.sorted().map { "\($0)-\(g.labels[$0]!)" }.joined(separator: "-"))
        var out = String(raw.lowercased().map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "-" })
        while out.last == "-" || out.last == "." { out.removeLast() }
        return String(out.prefix(253))
    }

    static func rule(
        direction: TrafficDirection, peers: [PeerKey], ports: [PortKey], policyNamespace: String, flows: Int, dnsVisible: Bool = false
    ) -> String {
        let from = direction == .ingress ? "from" : "to"
        var endpoints: [String] = []
        var entities: [String] = []
        var cidrs: [String] = []
        var names: [String] = []
        for p in peers {
            switch p {
            case .group(let g):
                var labels = g.labels
                if g.namespace != policyNamespace { labels[Labels.namespaceKey] = g.namespace }
                endpoints.append("{matchLabels: \(mapping(labels))}")
            case .entity(let e): entities.append(quote(e))
            case .address(let a): cidrs.append(quote(a))
            case .name(let n): names.append("{matchName: \(quote(n))}")
            }
        }
        var lines: [String] = []
        if !endpoints.isEmpty { lines.append("\(from)Endpoints: [\(endpoints.joined(separator: ", "))]") }
        if !entities.isEmpty { lines.append("\(from)Entities: [\(entities.joined(separator: ", "))]") }
        if !cidrs.isEmpty { lines.append("\(from)CIDR: [\(cidrs.joined(separator: ", "))]") }
        if !names.isEmpty { lines.append("toFQDNs: [\(names.joined(separator: ", "))]") }
        if !ports.isEmpty {
            func list(_ ps: [PortKey]) -> String { ps.map { "{port: \(quote(String($0.port))), protocol: \($0.proto.rawValue)}" }.joined(separator: ", ") }
            // DNS: its answers feed the toFQDNs rules beside it
            let dns = dnsVisible ? ports.filter { $0.port == 53 && $0.proto != .tcp } : []
            var items = dns.isEmpty ? [] : ["{ports: [\(list(dns))], rules: {dns: [{matchPattern: \"*\"}]}}"]
            let rest = ports.filter { !dns.contains($0) }
            if !rest.isEmpty { items.append("{ports: [\(list(rest))]}") }
            lines.append("toPorts: [\(items.joined(separator: ", "))]")
        }
        var out = "  # \(flows) observed flow\(flows == 1 ? "" : "s")\n"
        for (i, l) in lines.enumerated() { out += (i == 0 ? "  - " : "    ") + l + "\n" }
        return out
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for c in s {
            if c == "\\" || c == "\"" { out.append("\\") }
            out.append(c)
        }
        return out + "\""
    }

    static func mapping(_ m: [String: String]) -> String {
        "{" + m.keys.sorted().map { "\(quote($0)): \(quote(m[$0]!))" }.joined(separator: ", ") + "}"
    }
}
