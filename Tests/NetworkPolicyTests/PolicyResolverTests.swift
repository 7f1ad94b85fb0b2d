import NetworkPolicy
import XCTest

final class PolicyResolverTests: XCTestCase {
    func ep(_ id: UInt32, _ app: String, _ identity: UInt32, ns: String = "default") -> EndpointModel {
        EndpointModel(
            id: id, name: app, namespace: ns, labels: Labels(["app": app, Labels.namespaceKey: ns]), identity: Identity(identity),
            addresses: [IPPrefix("10.213.0.\(id + 1)/32")!])
    }

    func policy(_ selector: String, _ rules: [NetworkRule], deny: Set<TrafficDirection> = [.ingress]) -> NetworkPolicy {
        NetworkPolicy(
            kind: .ciliumNetworkPolicy, name: "p-\(selector)", namespace: "default", endpointSelector: LabelSelector(matchLabels: ["app": selector]),
            rules: rules, defaultDeny: deny, origin: "t")
    }

    func testPortRangesBecomeAlignedBlocks() {
        XCTAssertEqual(ProtoPortPrefix.blocks(proto: 6, range: 8080...8080).map(\.description), ["TCP/8080"])
        XCTAssertEqual(
            ProtoPortPrefix.blocks(proto: 6, range: 8000...8100).map(\.description), ["TCP/8000-8063", "TCP/8064-8095", "TCP/8096-8099", "TCP/8100"])
        XCTAssertEqual(ProtoPortPrefix.blocks(proto: 17, range: 0...65535).map(\.description), ["UDP/any"])
        XCTAssertEqual(ProtoPortPrefix.blocks(proto: 6, range: 1...65535).count, 16)
        // every port of a range is covered exactly once
        let blocks = ProtoPortPrefix.blocks(proto: 6, range: 1000...9999)
        for port in [UInt16(999), 1000, 5555, 9999, 10000] {
            let hits = blocks.filter { $0.contains(ProtoPortPrefix(proto: 6, port: port, bits: 32)) }.count
            XCTAssertEqual(hits, (1000...9999).contains(port) ? 1 : 0, "port \(port)")
        }
    }

    func testEntriesPerSelectedEndpointAndPeerIdentity() {
        let eps = [ep(1, "frontend", 256), ep(2, "backend", 257), ep(3, "db", 258)]
        let rule = NetworkRule(
            direction: .ingress, deny: false, peers: [.endpoints(LabelSelector(matchLabels: ["app": "frontend"]), namespace: "default")],
            ports: [PortRange(proto: .tcp, first: 8080, last: 8080)], path: "spec.ingress[0]")
        let s = PolicyResolver().resolve(endpoints: eps, policies: [policy("backend", [rule])], hostAddresses: [IPPrefix("192.0.2.1/32")!])
        XCTAssertEqual(s.entries.count, 1)
        XCTAssertEqual(s.entries[0].endpoint, 2)
        XCTAssertEqual(s.entries[0].identity, Identity(256))
        XCTAssertEqual(s.entries[0].match.description, "TCP/8080")
        XCTAssertEqual(s.enforcement[2], [.ingress])
        XCTAssertEqual(s.enforcement[1], [])
        XCTAssertEqual(s.ipcache[IPPrefix("10.213.0.2/32")!], Identity(256))
        XCTAssertEqual(s.ipcache[IPPrefix("192.0.2.1/32")!], .host)
        XCTAssertEqual(s.ipcache[IPPrefix("0.0.0.0/0")!], .world)
        XCTAssertEqual(s.rules[s.entries[0].ruleID], "default/p-backend spec.ingress[0]")
    }

    func testNamespaceScopesSelectors() {
        let eps = [ep(1, "frontend", 256, ns: "other"), ep(2, "backend", 257)]
        let rule = NetworkRule(
            direction: .ingress, deny: false, peers: [.endpoints(LabelSelector(matchLabels: ["app": "frontend"]), namespace: "default")], ports: [], path: "r")
        XCTAssertTrue(
            PolicyResolver().resolve(endpoints: eps, policies: [policy("backend", [rule])], hostAddresses: []).entries.isEmpty,
            "a frontend in another namespace is not selected")
    }

    func testAllowNestedInsideDenyIsDroppedSoTheDenyWins() {
        let eps = [ep(1, "frontend", 256), ep(2, "backend", 257)]
        let peer = Peer.endpoints(LabelSelector(matchLabels: ["app": "frontend"]), namespace: "default")
        let allow = NetworkRule(direction: .ingress, deny: false, peers: [peer], ports: [PortRange(proto: .tcp, first: 8080, last: 8080)], path: "a")
        let deny = NetworkRule(direction: .ingress, deny: true, peers: [peer], ports: [PortRange(proto: .tcp, first: 8000, last: 8999)], path: "d")
        let s = PolicyResolver().resolve(endpoints: eps, policies: [policy("backend", [allow, deny])], hostAddresses: [])
        XCTAssertTrue(s.entries.allSatisfy(\.deny), "\(s.entries)")
        // a narrower deny inside a wider allow stays: the kernel's longest match picks it
        let wideAllow = NetworkRule(direction: .ingress, deny: false, peers: [peer], ports: [], path: "a")
        let narrowDeny = NetworkRule(direction: .ingress, deny: true, peers: [peer], ports: [PortRange(proto: .tcp, first: 22, last: 22)], path: "d")
        let s2 = PolicyResolver().resolve(endpoints: eps, policies: [policy("backend", [wideAllow, narrowDeny])], hostAddresses: [])
        XCTAssertEqual(s2.entries.filter(\.deny).count, 1)
        XCTAssertEqual(s2.entries.filter { !$0.deny }.count, 1)
    }

    func testCIDRIdentitiesWithExceptAndWorld() {
        let eps = [ep(1, "client", 256)]
        let rule = NetworkRule(
            direction: .egress, deny: false, peers: [.cidr(IPPrefix("10.0.0.0/8")!, except: [IPPrefix("10.96.0.0/12")!])], ports: [], path: "e")
        let world = NetworkRule(direction: .egress, deny: false, peers: [.entity(.world)], ports: [PortRange(proto: .udp, first: 53, last: 53)], path: "w")
        let s = PolicyResolver().resolve(endpoints: eps, policies: [policy("client", [rule, world], deny: [.egress])], hostAddresses: [])
        let outer = s.cidrIdentities[IPPrefix("10.0.0.0/8")!]!
        let inner = s.cidrIdentities[IPPrefix("10.96.0.0/12")!]!
        XCTAssertTrue(outer.isLocalScope && inner.isLocalScope)
        XCTAssertEqual(s.ipcache[IPPrefix("10.96.0.0/12")!], inner)
        let allowed = Set(s.entries.filter { $0.ruleID == s.rules.first { $0.value.hasSuffix(" e") }!.key }.map(\.identity))
        XCTAssertEqual(allowed, [outer], "the except prefix's identity is not allowed")
        let worldIDs = Set(s.entries.filter { $0.match.description == "UDP/53" }.map(\.identity))
        XCTAssertEqual(worldIDs, [.world, outer, inner], "world covers every CIDR identity")
    }

    func testIdentityAllocatorSharesEqualLabelSets() throws {
        let a = LocalIdentityAllocator()
        let x = try a.acquire(Labels(["app": "web", "pod-template-hash": "abc"]))
        let y = try a.acquire(Labels(["app": "web", "pod-template-hash": "def"]))
        XCTAssertEqual(x, y, "rollout hashes are not identity-relevant")
        XCTAssertEqual(x.rawValue, 256)
        let z = try a.acquire(Labels(["app": "db"]))
        XCTAssertEqual(z.rawValue, 257)
        a.release(x)
        XCTAssertNotNil(a.labels(of: x), "still referenced once")
        a.release(y)
        XCTAssertNil(a.labels(of: x))
        XCTAssertEqual(try a.acquire(Labels(["app": "cache"])).rawValue, 256, "freed numbers are reused")
    }
}

/// Audit mode: what an audit-mode policy would drop is reported, never dropped, and never
/// widens what an enforced policy drops.
extension PolicyResolverTests {
    var frontend: Peer { .endpoints(LabelSelector(matchLabels: ["app": "frontend"]), namespace: "default") }

    func auditPolicy(_ p: NetworkPolicy) -> NetworkPolicy {
        var p = p
        p.auditMode = true
        p.name += "-audit"
        return p
    }

    func testAuditModePolicyDefaultDenyIsAuditedNotEnforced() {
        let eps = [ep(1, "frontend", 256), ep(2, "backend", 257)]
        let p = auditPolicy(policy("backend", [], deny: [.ingress, .egress]))
        let s = PolicyResolver().resolve(endpoints: eps, policies: [p], hostAddresses: [])
        XCTAssertEqual(s.enforcement[2], [])
        XCTAssertEqual(s.auditing[2], [.ingress, .egress])
        // an enforcing policy's default deny in a direction wins over auditing it
        let enforced = policy("backend", [], deny: [.ingress])
        let both = PolicyResolver().resolve(endpoints: eps, policies: [p, enforced], hostAddresses: [])
        XCTAssertEqual(both.enforcement[2], [.ingress])
        XCTAssertEqual(both.auditing[2], [.egress])
    }

    func testAuditModeDenyNestedInEnforcedDenyIsDroppedAndAllowInsideAuditDenyToo() {
        let eps = [ep(1, "frontend", 256), ep(2, "backend", 257)]
        let enforcedDeny = NetworkRule(direction: .ingress, deny: true, peers: [frontend], ports: [PortRange(proto: .tcp, first: 0, last: 65535)], path: "d")
        let auditDeny22 = NetworkRule(direction: .ingress, deny: true, peers: [frontend], ports: [PortRange(proto: .tcp, first: 22, last: 22)], path: "a")
        let allow80 = NetworkRule(direction: .ingress, deny: false, peers: [frontend], ports: [PortRange(proto: .tcp, first: 80, last: 80)], path: "l")
        let auditDenyAll = NetworkRule(direction: .ingress, deny: true, peers: [frontend], ports: [PortRange(proto: .tcp, first: 0, last: 65535)], path: "b")
        // TCP/22 audited inside an enforced deny of all TCP would forward what is dropped: gone
        var s = PolicyResolver().resolve(
            endpoints: eps, policies: [policy("backend", [enforcedDeny]), auditPolicy(policy("backend", [auditDeny22]))],
            hostAddresses: [])
        XCTAssertEqual(s.entries.map(\.match.description), ["TCP/any"])
        XCTAssertEqual(s.entries.map(\.audit), [false])
        // an allow of TCP/80 inside an audited deny of all TCP: the audit entry decides (reported)
        s = PolicyResolver().resolve(
            endpoints: eps, policies: [policy("backend", [allow80]), auditPolicy(policy("backend", [auditDenyAll]))],
            hostAddresses: [])
        XCTAssertEqual(s.entries.map(\.match.description), ["TCP/any"])
        XCTAssertEqual(s.entries.map(\.audit), [true])
        // the same key from both: the enforced deny is kept
        s = PolicyResolver().resolve(
            endpoints: eps, policies: [auditPolicy(policy("backend", [auditDenyAll])), policy("backend", [enforcedDeny])],
            hostAddresses: [])
        XCTAssertEqual(s.entries.count, 1)
        XCTAssertEqual(s.entries.first?.audit, false)
    }

    func testAuditModeOfEndpointIsCarried() {
        var e = ep(2, "backend", 257)
        e.auditMode = true
        let s = PolicyResolver().resolve(endpoints: [e], policies: [policy("backend", [])], hostAddresses: [])
        XCTAssertEqual(s.auditMode, [2])
        XCTAssertEqual(s.enforcement[2], [.ingress], "the policy still says what would be dropped")
    }

    func testFQDNSelectorsAreIdentitiesPerNameAndDNSVisibilityMarksEntries() throws {
        let eps = [ep(1, "client", 256), ep(2, "other", 257)]
        let api = try FQDNSelector.parse("api.example.com", pattern: false).get()
        let cdn = try FQDNSelector.parse("*.cdn.example.com", pattern: true).get()
        let dns = NetworkRule(
            direction: .egress, deny: false, peers: [.cidr(IPPrefix("10.0.0.53/32")!, except: [])],
            ports: [PortRange(proto: .udp, first: 53, last: 53), PortRange(proto: .tcp, first: 53, last: 53)], path: "spec.egress[0]",
            dnsVisiblePorts: [PortRange(proto: .udp, first: 53, last: 53)])
        let names = NetworkRule(
            direction: .egress, deny: false, peers: [.fqdn(api), .fqdn(cdn)], ports: [PortRange(proto: .tcp, first: 443, last: 443)],
            path: "spec.egress[1]")
        let resolver = PolicyResolver()
        let s = resolver.resolve(
            endpoints: eps, policies: [policy("client", [dns, names], deny: [.egress]), policy("other", [names], deny: [.egress])], hostAddresses: [])
        let apiID = try XCTUnwrap(s.fqdnNames[FQDNName(endpoint: 1, selector: api)])
        XCTAssertTrue(apiID.isFQDNSelector && apiID.isLocalScope)
        XCTAssertEqual(s.fqdnNames[FQDNName(endpoint: 2, selector: api)], apiID, "one identity per name, whichever endpoint")
        XCTAssertNotEqual(s.fqdnNames[FQDNName(endpoint: 1, selector: cdn)], apiID)
        XCTAssertEqual(resolver.fqdnSelector(of: apiID), api)
        XCTAssertTrue(s.entries.contains { $0.endpoint == 1 && $0.identity == apiID && $0.match.description == "TCP/443" && !$0.deny })
        XCTAssertEqual(s.entries.filter { $0.endpoint == 1 && $0.dns }.map(\.match.description), ["UDP/53"], "only the rules.dns ports")
        XCTAssertEqual(s.fqdnEndpoints, [1, 2])
        XCTAssertEqual(s.fqdnWithoutDNS, [2], "toFQDNs without a DNS-visible rule never learns: said")
        // numbering is stable across runs and adopted by a successor
        let again = resolver.resolve(endpoints: eps, policies: [policy("client", [dns, names], deny: [.egress])], hostAddresses: [])
        XCTAssertEqual(again.fqdnNames[FQDNName(endpoint: 1, selector: api)], apiID)
        let next = PolicyResolver()
        next.adoptFQDNSelectors([api.key: apiID], highestInUse: Identity(apiID.rawValue + 5))
        let adopted = next.resolve(endpoints: eps, policies: [policy("client", [dns, names], deny: [.egress])], hostAddresses: [])
        XCTAssertEqual(adopted.fqdnNames[FQDNName(endpoint: 1, selector: api)], apiID)
        XCTAssertGreaterThan(
            try XCTUnwrap(adopted.fqdnNames[FQDNName(endpoint: 1, selector: cdn)]).rawValue, apiID.rawValue + 5,
            "no number a learned address may carry is reused")
    }
}
