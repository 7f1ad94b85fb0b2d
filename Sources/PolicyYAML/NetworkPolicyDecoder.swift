import Foundation
import NetworkPolicy

/// Decodes one YAML document into network policies (a CiliumNetworkPolicy with `specs:`
/// gives several), reporting every problem at its position. Fields Cilium has but Vigil does
/// not enforce (L7 rules, FQDNs, services, ICMP) are errors, never silently ignored: a
/// policy that loads is enforced as written.
struct NetworkPolicyDecoder {
    let d: Diagnostics

    static let kinds = NetworkPolicy.Kind.allCases.map(\.rawValue)

    func policies(_ root: YAMLNode) -> [NetworkPolicy] {
        guard let top = MappingReader(root, path: "", keys: ["apiVersion", "kind", "metadata", "spec", "specs", "status"], d) else { return [] }
        let before = d.errors.count
        guard let kindName = top.string("kind", required: "CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy or NetworkPolicy") else { return [] }
        guard let kind = NetworkPolicy.Kind(rawValue: kindName) else {
            d.error(
                top.mark("kind"), "kind", "unknown kind \"\(kindName)\"\(Suggest.hint(kindName, Self.kinds)); accepted: \(Self.kinds.joined(separator: ", "))")
            return []
        }
        let api = kind == .kubernetesNetworkPolicy ? "networking.k8s.io/v1" : "cilium.io/v2"
        if let a = top.string("apiVersion", required: "\(kind.rawValue) documents start with apiVersion: \(api)"), a != api {
            d.error(top.mark("apiVersion"), "apiVersion", "\(kind.rawValue) needs apiVersion: \(api), found \"\(a)\"")
        }
        var name = ""
        var namespace: String? = kind == .ciliumClusterwideNetworkPolicy ? nil : "default"
        var auditMode = false
        if let metaNode = top.value("metadata"),
            let meta = MappingReader(
                metaNode, path: "metadata", keys: ["name", "namespace", "labels", "annotations", "uid", "resourceVersion", "generation", "creationTimestamp"], d
            )
        {
            if let n = meta.string("name", required: "every policy needs a name") {
                if PolicyDecoder.isDNSSubdomain(n) {
                    name = n
                } else {
                    d.error(meta.mark("name"), "metadata.name", "\"\(n)\" is not a valid name: use lowercase letters, digits, '-' and '.'")
                }
            }
            if let ns = meta.string("namespace") {
                if kind == .ciliumClusterwideNetworkPolicy {
                    d.error(meta.mark("namespace"), "metadata.namespace", "a clusterwide policy has no namespace: remove it, or use kind CiliumNetworkPolicy")
                } else {
                    namespace = ns
                }
            }
            auditMode = Self.auditAnnotation(meta, d)
        } else if !top.has("metadata") {
            top.missing("metadata", "every policy needs metadata.name")
        }
        let origin = "\(d.file):\(root.mark.line):\(root.mark.column)"
        var out: [NetworkPolicy] = []
        if kind == .kubernetesNetworkPolicy {
            if top.has("specs") { d.error(top.keyMark("specs"), "specs", "a Kubernetes NetworkPolicy has one spec: use spec") }
            if let s = top.value("spec") {
                if let p = kubernetesSpec(s, path: "spec", name: name, namespace: namespace ?? "default", origin: origin) { out.append(p) }
            } else {
                top.missing("spec", "a NetworkPolicy needs spec.podSelector")
            }
        } else {
            var specs: [(YAMLNode, String)] = []
            if let s = top.value("spec") { specs.append((s, "spec")) }
            specs += top.items("specs").map { ($0.node, $0.path) }
            if specs.isEmpty { top.missing("spec", "a policy needs spec (or specs) with an endpointSelector") }
            for (node, path) in specs {
                if let p = ciliumSpec(node, path: path, kind: kind, name: name, namespace: namespace, origin: origin) { out.append(p) }
            }
            if out.count > 1 {
                // several specs of one policy act as one policy: merge their rules and defaults
                out = merge(out)
            }
        }
        for i in out.indices { out[i].auditMode = auditMode }
        return d.errors.count == before ? out : []
    }

    static let auditModeAnnotation = "vigil.io/policy-audit-mode"
    /// The annotations Vigil reads: any other `vigil.io/` key is a typo that would leave the
    /// policy enforcing what its author meant to audit.
    static let vigilAnnotations = [auditModeAnnotation]

    /// `metadata.annotations["vigil.io/policy-audit-mode"]`: "true" or "false".
    static func auditAnnotation(_ meta: MappingReader, _ d: Diagnostics) -> Bool {
        var audit = false
        for (k, v) in meta.pairs("annotations") {
            guard let key = k.scalar, key.hasPrefix("vigil.io/") else { continue }
            let path = meta.sub("annotations") + "." + key
            guard key == auditModeAnnotation else {
                d.error(
                    k.mark, path,
                    "unknown annotation \"\(key)\"\(Suggest.hint(key, vigilAnnotations)); Vigil reads: \(vigilAnnotations.joined(separator: ", "))")
                continue
            }
            switch v.scalar {
            case "true": audit = true
            case "false": audit = false
            default: d.error(v.mark, path, "expected \"true\" or \"false\" (a string, as annotations are)")
            }
        }
        return audit
    }

    private func merge(_ parts: [NetworkPolicy]) -> [NetworkPolicy] {
        // specs with different endpoint selectors stay separate policies sharing the name
        var byKey: [LabelSelector: NetworkPolicy] = [:]
        var order: [LabelSelector] = []
        for p in parts {
            if var m = byKey[p.endpointSelector] {
                m.rules += p.rules
                m.defaultDeny.formUnion(p.defaultDeny)
                byKey[p.endpointSelector] = m
            } else {
                byKey[p.endpointSelector] = p
                order.append(p.endpointSelector)
            }
        }
        return order.enumerated().map { i, sel in
            var p = byKey[sel]!
            if i > 0 { p.name += "#\(i)" }
            return p
        }
    }

    // MARK: Cilium

    static let ciliumSpecKeys = [
        "endpointSelector", "nodeSelector", "ingress", "egress", "ingressDeny", "egressDeny", "description", "labels", "enableDefaultDeny",
    ]

    func ciliumSpec(_ node: YAMLNode, path: String, kind: NetworkPolicy.Kind, name: String, namespace: String?, origin: String) -> NetworkPolicy? {
        guard let spec = MappingReader(node, path: path, keys: Self.ciliumSpecKeys, d) else { return nil }
        if spec.has("nodeSelector") {
            d.error(
                spec.keyMark("nodeSelector"), spec.sub("nodeSelector"),
                "host policies (nodeSelector) are not enforced by Vigil; select endpoints with endpointSelector")
        }
        guard let selNode = spec.value("endpointSelector") else {
            spec.missing("endpointSelector", "which endpoints the policy applies to ({} for all)")
            return nil
        }
        let selector = labelSelector(selNode, path: spec.sub("endpointSelector")) ?? LabelSelector()
        var rules: [NetworkRule] = []
        var defaults: Set<TrafficDirection> = []
        for (key, direction, deny) in [
            ("ingress", TrafficDirection.ingress, false), ("egress", .egress, false),
            ("ingressDeny", .ingress, true), ("egressDeny", .egress, true),
        ] {
            guard spec.value(key) != nil || present(spec, key) else { continue }
            defaults.insert(direction)
            for item in spec.items(key) {
                if let r = ciliumRule(
                    item.node, path: item.path, direction: direction, deny: deny, namespace: kind == .ciliumClusterwideNetworkPolicy ? nil : namespace)
                {
                    rules.append(r)
                }
            }
        }
        if let dd = spec.value("enableDefaultDeny"), let m = MappingReader(dd, path: spec.sub("enableDefaultDeny"), keys: ["ingress", "egress"], d) {
            for dir in TrafficDirection.allCases {
                if let on = m.bool(dir.rawValue) { if on { defaults.insert(dir) } else { defaults.remove(dir) } }
            }
        }
        return NetworkPolicy(
            kind: kind, name: name, namespace: kind == .ciliumClusterwideNetworkPolicy ? nil : namespace,
            endpointSelector: selector, rules: rules, defaultDeny: defaults, origin: origin)
    }

    /// Whether `key` is written at all (`ingress:` with no value counts: it turns on default deny).
    private func present(_ m: MappingReader, _ key: String) -> Bool {
        guard case .mapping(let pairs) = m.node.value else { return false }
        return pairs.contains { $0.key.scalar == key }
    }

    func ciliumRule(_ node: YAMLNode, path: String, direction: TrafficDirection, deny: Bool, namespace: String?) -> NetworkRule? {
        let from = direction == .ingress ? "from" : "to"
        let peerKeys = ["Endpoints", "CIDR", "CIDRSet", "Entities"].map { from + $0 }
        let unsupported =
            direction == .ingress
            ? ["fromRequires", "fromGroups", "fromNodes", "icmps", "authentication"]
            : ["toRequires", "toGroups", "toNodes", "toServices", "icmps", "authentication"]
        let fqdnKey = direction == .egress ? ["toFQDNs"] : []
        guard let m = MappingReader(node, path: path, keys: peerKeys + fqdnKey + ["toPorts"] + unsupported, d) else { return nil }
        for key in unsupported where m.has(key) {
            d.error(
                m.keyMark(key), m.sub(key), "\(key) is not enforced by Vigil's datapath; express the peer with \(peerKeys.joined(separator: ", ")) and toPorts")
        }
        var peers: [Peer] = []
        for item in m.items(from + "Endpoints") {
            guard let sel = labelSelector(item.node, path: item.path) else { continue }
            peers.append(.endpoints(sel, namespace: sel.mentions(Labels.namespaceKey) ? nil : namespace))
        }
        for s in m.strings(from + "CIDR") {
            if let p = cidr(s.value, s.mark, s.path) { peers.append(.cidr(p, except: [])) }
        }
        for item in m.items(from + "CIDRSet") {
            guard let set = MappingReader(item.node, path: item.path, keys: ["cidr", "except", "cidrGroupRef", "cidrGroupSelector"], d) else { continue }
            for key in ["cidrGroupRef", "cidrGroupSelector"] where set.has(key) {
                d.error(set.keyMark(key), set.sub(key), "CIDR groups are not supported; write the cidr here")
            }
            guard let c = set.string("cidr", required: "the CIDR this entry allows"), let p = cidr(c, set.mark("cidr"), set.sub("cidr")) else { continue }
            var except: [IPPrefix] = []
            for e in set.strings("except") {
                guard let x = cidr(e.value, e.mark, e.path) else { continue }
                if !p.contains(x) {
                    d.error(e.mark, e.path, "\(x) is not inside \(p): an exception must lie within the CIDR it carves out of")
                } else {
                    except.append(x)
                }
            }
            peers.append(.cidr(p, except: except))
        }
        for s in m.strings(from + "Entities") {
            guard let e = Entity(rawValue: s.value) else {
                let names = Entity.allCases.map(\.rawValue)
                d.error(s.mark, s.path, "unknown entity \"\(s.value)\"\(Suggest.hint(s.value, names)); accepted: \(names.joined(separator: ", "))")
                continue
            }
            peers.append(.entity(e))
        }
        if m.has("toFQDNs") {
            if deny {
                d.error(
                    m.keyMark("toFQDNs"), m.sub("toFQDNs"),
                    "toFQDNs is not supported in egressDeny (nor in Cilium): deny addresses with toCIDR, or allow names with toFQDNs under egress")
                return nil
            }
            if let other = peerKeys.first(where: { m.has($0) }) {
                d.error(
                    m.keyMark("toFQDNs"), m.sub("toFQDNs"), "toFQDNs cannot be combined with \(other) in one rule (nor in Cilium): make it its own egress rule")
                return nil
            }
            let fqdns = fqdnSelectors(m.items("toFQDNs"))
            if fqdns.isEmpty { return nil }  // errors already said
            peers += fqdns.map { .fqdn($0) }
        }
        var ports: [PortRange] = []
        var dnsVisible: [PortRange] = []
        for item in m.items("toPorts") {
            guard
                let pr = MappingReader(item.node, path: item.path, keys: ["ports", "rules", "terminatingTLS", "originatingTLS", "serverNames", "listener"], d)
            else { continue }
            for key in ["terminatingTLS", "originatingTLS", "serverNames", "listener"] where pr.has(key) {
                d.error(pr.keyMark(key), pr.sub(key), "L7 rules (\(key)) are not enforced by Vigil; only ports and protocols are")
            }
            let visible = pr.value("rules").map { dnsVisibility($0, path: pr.sub("rules"), direction: direction) } ?? false
            let list = pr.items("ports")
            var entry: [PortRange] = []
            if list.isEmpty { entry.append(.anything) }
            for p in list { if let r = portProtocol(p.node, path: p.path, protocolDefault: .any) { entry.append(r) } }
            ports += entry
            if visible { dnsVisible += entry }
        }
        let hasPeerKeys = peerKeys.contains { m.has($0) }
        if peers.isEmpty && hasPeerKeys { return nil }  // the listed peers select nothing (errors already said)
        if peers.isEmpty && ports.isEmpty { return nil }  // `{}`: selects no peer (default deny only, as in Cilium)
        return NetworkRule(direction: direction, deny: deny, peers: peers, ports: ports, path: path, dnsVisiblePorts: dnsVisible)
    }

    /// `toFQDNs` items: each a matchName or a matchPattern.
    func fqdnSelectors(_ items: [(node: YAMLNode, path: String)]) -> [FQDNSelector] {
        var out: [FQDNSelector] = []
        for item in items {
            guard let sel = MappingReader(item.node, path: item.path, keys: ["matchName", "matchPattern"], d) else { continue }
            let given = ["matchName", "matchPattern"].filter { sel.has($0) }
            guard given.count == 1, let key = given.first, let text = sel.string(key) else {
                d.error(
                    item.node.mark, item.path,
                    given.isEmpty
                        ? "write matchName (a name) or matchPattern (\"*.example.com\", \"*\")" : "write matchName or matchPattern, not both: make two items")
                continue
            }
            switch FQDNSelector.parse(text, pattern: key == "matchPattern") {
            case .success(let s): out.append(s)
            case .failure(let reason): d.error(sel.mark(key), sel.sub(key), reason.text)
            }
        }
        return out
    }

    /// `toPorts[].rules`: only `dns` with `matchPattern: "*"` is accepted. It makes the DNS
    /// answers on these ports visible to toFQDNs rules (as Cilium's DNS proxy does); filtering
    /// queries by name is not enforced, so a narrower DNS rule is refused rather than widened.
    func dnsVisibility(_ node: YAMLNode, path: String, direction: TrafficDirection) -> Bool {
        let l7 = ["http", "kafka", "l7proto", "l7"]
        guard let r = MappingReader(node, path: path, keys: ["dns"] + l7, d) else { return false }
        for key in l7 where r.has(key) {
            d.error(
                r.keyMark(key), r.sub(key),
                "L7 rules (\(key)) are not enforced by Vigil; only ports and protocols, and DNS visibility (dns: [{matchPattern: \"*\"}]), are")
        }
        guard r.has("dns") else { return false }
        guard direction == .egress else {
            d.error(r.keyMark("dns"), r.sub("dns"), "DNS rules apply to egress (the endpoint's queries); remove this one")
            return false
        }
        let items = r.items("dns")
        if items.isEmpty {
            d.error(r.keyMark("dns"), r.sub("dns"), "write dns: [{matchPattern: \"*\"}] to make the answers on these ports visible to toFQDNs rules")
            return false
        }
        var ok = true
        for item in items {
            guard let s = fqdnSelectors([item]).first else {
                ok = false  // its error is said
                continue
            }
            if s == .everyName { continue }
            d.error(
                item.node.mark, item.path,
                "DNS query filtering by name (\(s.key)) is not enforced by Vigil: write matchPattern: \"*\" here (answers become visible to toFQDNs rules) and allow destinations by name with toFQDNs"
            )
            ok = false
        }
        return ok
    }

    // MARK: Kubernetes

    func kubernetesSpec(_ node: YAMLNode, path: String, name: String, namespace: String, origin: String) -> NetworkPolicy? {
        guard let spec = MappingReader(node, path: path, keys: ["podSelector", "policyTypes", "ingress", "egress"], d) else { return nil }
        guard let selNode = spec.value("podSelector") ?? (present(spec, "podSelector") ? YAMLNode(.mapping([]), at: spec.mark("podSelector")) : nil) else {
            spec.missing("podSelector", "which pods the policy applies to ({} for all in the namespace)")
            return nil
        }
        let selector = labelSelector(selNode, path: spec.sub("podSelector")) ?? LabelSelector()
        var types: Set<TrafficDirection> = [.ingress]
        if spec.has("egress") { types.insert(.egress) }
        let typeItems = spec.strings("policyTypes")
        if !typeItems.isEmpty {
            types = []
            for t in typeItems {
                switch t.value {
                case "Ingress": types.insert(.ingress)
                case "Egress": types.insert(.egress)
                default: d.error(t.mark, t.path, "unknown policy type \"\(t.value)\"; accepted: Ingress, Egress")
                }
            }
        }
        var rules: [NetworkRule] = []
        for (key, direction) in [("ingress", TrafficDirection.ingress), ("egress", .egress)] {
            for item in spec.items(key) {
                guard let r = MappingReader(item.node, path: item.path, keys: [direction == .ingress ? "from" : "to", "ports"], d) else { continue }
                var peers: [Peer] = []
                var listedPeers = false
                for p in r.items(direction == .ingress ? "from" : "to") {
                    listedPeers = true
                    peers += kubernetesPeer(p.node, path: p.path, namespace: namespace)
                }
                if listedPeers && peers.isEmpty { continue }
                var ports: [PortRange] = []
                for p in r.items("ports") { if let pr = portProtocol(p.node, path: p.path, protocolDefault: .tcp) { ports.append(pr) } }
                rules.append(NetworkRule(direction: direction, deny: false, peers: peers, ports: ports, path: item.path))
            }
        }
        return NetworkPolicy(
            kind: .kubernetesNetworkPolicy, name: name, namespace: namespace, endpointSelector: selector,
            rules: rules.filter { types.contains($0.direction) }, defaultDeny: types, origin: origin)
    }

    func kubernetesPeer(_ node: YAMLNode, path: String, namespace: String) -> [Peer] {
        guard let m = MappingReader(node, path: path, keys: ["podSelector", "namespaceSelector", "ipBlock"], d) else { return [] }
        if let b = m.value("ipBlock") {
            if m.has("podSelector") || m.has("namespaceSelector") {
                d.error(
                    m.keyMark("ipBlock"), m.sub("ipBlock"),
                    "ipBlock cannot be combined with podSelector or namespaceSelector in one peer: make it its own list item")
            }
            guard let block = MappingReader(b, path: m.sub("ipBlock"), keys: ["cidr", "except"], d),
                let c = block.string("cidr", required: "the CIDR to allow"), let p = cidr(c, block.mark("cidr"), block.sub("cidr"))
            else { return [] }
            let except = block.strings("except").compactMap { cidr($0.value, $0.mark, $0.path) }
            return [.cidr(p, except: except)]
        }
        let pods = m.value("podSelector").flatMap { labelSelector($0, path: m.sub("podSelector")) } ?? LabelSelector()
        guard let nsNode = m.value("namespaceSelector") ?? (present(m, "namespaceSelector") ? YAMLNode(.mapping([]), at: m.mark("namespaceSelector")) : nil)
        else {
            return [.endpoints(pods, namespace: namespace)]
        }
        guard let nsSel = labelSelector(nsNode, path: m.sub("namespaceSelector")) else { return [] }
        if nsSel.isEmpty { return [.endpoints(pods, namespace: nil)] }
        // Vigil knows namespaces by name only: the selector must name them
        let nameKey = "kubernetes.io/metadata.name"
        var names: [String] = []
        var understood = true
        for (k, v) in nsSel.matchLabels { if k == nameKey { names.append(v) } else { understood = false } }
        for r in nsSel.matchExpressions { if r.key == nameKey && r.op == .in { names += r.values } else { understood = false } }
        if !understood || (nsSel.matchLabels[nameKey] != nil && nsSel.matchExpressions.contains { $0.key == nameKey }) {
            d.error(
                nsNode.mark, m.sub("namespaceSelector"),
                "Vigil knows namespaces by name only: select them with \(nameKey) (matchLabels, or matchExpressions with In)")
            return []
        }
        return names.map { .endpoints(pods, namespace: $0) }
    }

    // MARK: shared pieces

    func labelSelector(_ node: YAMLNode, path: String) -> LabelSelector? {
        guard let m = MappingReader(node, path: path, keys: ["matchLabels", "matchExpressions"], d) else { return nil }
        var sel = LabelSelector()
        for (k, v) in m.pairs("matchLabels") {
            guard let ks = k.scalar, let vs = v.scalar else {
                d.error(v.mark, m.sub("matchLabels"), "expected string keys and values")
                continue
            }
            sel.matchLabels[ks] = v.isNull ? "" : vs
        }
        for item in m.items("matchExpressions") {
            guard let e = MappingReader(item.node, path: item.path, keys: ["key", "operator", "values"], d) else { continue }
            guard let key = e.string("key", required: "the label key to test"), let opName = e.string("operator", required: "In, NotIn, Exists or DoesNotExist")
            else { continue }
            guard let op = LabelSelector.Operator(rawValue: opName) else {
                let names = LabelSelector.Operator.allCases.map(\.rawValue)
                d.error(
                    e.mark("operator"), e.sub("operator"),
                    "unknown operator \"\(opName)\"\(Suggest.hint(opName, names)); accepted: \(names.joined(separator: ", "))")
                continue
            }
            let values = e.strings("values").map(\.value)
            let takesValues = op == .in || op == .notIn
            if takesValues && values.isEmpty {
                d.error(e.keyMark("values"), e.sub("values"), "\(opName) needs at least one value")
            } else if !takesValues && !values.isEmpty {
                d.error(e.keyMark("values"), e.sub("values"), "\(opName) takes no values: remove them")
            }
            sel.matchExpressions.append(.init(key: key, op: op, values: values))
        }
        return sel
    }

    func cidr(_ text: String, _ mark: SourceMark, _ path: String) -> IPPrefix? {
        guard let p = IPPrefix(text) else {
            d.error(mark, path, "\"\(text)\" is not a CIDR (e.g. 10.0.0.0/8 or 2001:db8::/32)")
            return nil
        }
        // host bits set (10.1.2.3/8): Kubernetes rejects these too
        if IPPrefix.parseAddress(String(text.split(separator: "/")[0])) != p.address {
            d.error(mark, path, "\"\(text)\" has host bits set: write \(p)")
            return nil
        }
        return p
    }

    func portProtocol(_ node: YAMLNode, path: String, protocolDefault: PortRange.Proto) -> PortRange? {
        guard let m = MappingReader(node, path: path, keys: ["port", "endPort", "protocol"], d) else { return nil }
        var proto = protocolDefault
        if let p = m.string("protocol") {
            guard let known = PortRange.Proto(rawValue: p.uppercased()), p == p.uppercased() else {
                let names = PortRange.Proto.allCases.map(\.rawValue)
                d.error(m.mark("protocol"), m.sub("protocol"), "unknown protocol \"\(p)\"\(Suggest.hint(p, names)); accepted: \(names.joined(separator: ", "))")
                return nil
            }
            proto = known
        }
        var first: UInt16 = 0
        var last: UInt16 = 65535
        if let v = m.value("port"), let s = v.scalar {
            guard let n = UInt16(s), n > 0 || s == "0" else {
                d.error(v.mark, m.sub("port"), "port \"\(s)\" is not a number in 0-65535 (named ports are not supported: write the number)")
                return nil
            }
            if n != 0 {
                first = n
                last = n
            }
        }
        if let v = m.value("endPort") {
            guard let s = v.scalar, let n = UInt16(s) else {
                d.error(v.mark, m.sub("endPort"), "endPort must be a number in 1-65535")
                return nil
            }
            guard first != 0, n >= first else {
                d.error(v.mark, m.sub("endPort"), first == 0 ? "endPort needs port (the first port of the range)" : "endPort \(n) is below port \(first)")
                return nil
            }
            last = n
        }
        return PortRange(proto: proto, first: first, last: last)
    }
}
