import NetworkPolicy
import PolicyYAML
import XCTest

final class NetworkPolicyDecoderTests: XCTestCase {
    func parse(_ text: String) -> NetworkPolicyFileResult { NetworkPolicyLoader.parse(Array(text.utf8), file: "p.yaml") }

    func testCiliumPolicyWithEveryPeerKind() throws {
        let r = parse(
            """
            apiVersion: cilium.io/v2
            kind: CiliumNetworkPolicy
            metadata: {name: web, namespace: shop}
            spec:
              endpointSelector:
                matchLabels: {app: web}
                matchExpressions: [{key: tier, operator: In, values: [front]}]
              ingress:
              - fromEndpoints: [{matchLabels: {app: lb}}, {matchLabels: {k8s:io.kubernetes.pod.namespace: infra}}]
                fromEntities: [host]
                toPorts: [{ports: [{port: "443", protocol: TCP}, {port: "8000", endPort: 8100}]}]
              egressDeny:
              - toCIDRSet: [{cidr: 10.0.0.0/8, except: [10.96.0.0/12]}]
              egress:
              - toCIDR: [192.0.2.0/24]
            """)
        XCTAssertTrue(r.isValid, "\(r.diagnostics)")
        let p = try XCTUnwrap(r.policies.first)
        XCTAssertEqual(p.key, "shop/web")
        XCTAssertEqual(p.defaultDeny, [.ingress, .egress])
        XCTAssertEqual(p.rules.count, 3)
        let ingress = p.rules[0]
        XCTAssertEqual(
            ingress.peers,
            [
                .endpoints(LabelSelector(matchLabels: ["app": "lb"]), namespace: "shop"),
                .endpoints(LabelSelector(matchLabels: ["k8s:io.kubernetes.pod.namespace": "infra"]), namespace: nil),
                .entity(.host),
            ])
        XCTAssertEqual(ingress.ports, [PortRange(proto: .tcp, first: 443, last: 443), PortRange(proto: .any, first: 8000, last: 8100)])
        XCTAssertTrue(
            p.rules.contains { $0.deny && $0.direction == .egress && $0.peers == [.cidr(IPPrefix("10.0.0.0/8")!, except: [IPPrefix("10.96.0.0/12")!])] })
    }

    func testEmptyIngressRuleOnlyTurnsOnDefaultDeny() throws {
        let p = try XCTUnwrap(
            parse(
                """
                apiVersion: cilium.io/v2
                kind: CiliumNetworkPolicy
                metadata: {name: lockdown}
                spec:
                  endpointSelector: {}
                  ingress: [{}]
                """
            ).policies.first)
        XCTAssertEqual(p.defaultDeny, [.ingress])
        XCTAssertTrue(p.rules.isEmpty)
    }

    func testKubernetesPolicyDefaultsAndNamespaceSelector() throws {
        let r = parse(
            """
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {name: api}
            spec:
              podSelector: {matchLabels: {role: api}}
              ingress:
              - from:
                - podSelector: {matchLabels: {role: web}}
                  namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: front}}
                - ipBlock: {cidr: 172.16.0.0/12, except: [172.16.1.0/24]}
                ports: [{port: 5432}]
              egress:
              - {}
            """)
        XCTAssertTrue(r.isValid, "\(r.diagnostics)")
        let p = try XCTUnwrap(r.policies.first)
        XCTAssertEqual(p.namespace, "default")
        XCTAssertEqual(p.defaultDeny, [.ingress, .egress], "egress present: both types")
        XCTAssertEqual(p.rules[0].peers.first, .endpoints(LabelSelector(matchLabels: ["role": "web"]), namespace: "front"))
        XCTAssertEqual(p.rules[0].ports, [PortRange(proto: .tcp, first: 5432, last: 5432)], "Kubernetes' default protocol is TCP")
        XCTAssertEqual(p.rules[1].peers, [], "egress [{}] allows everything")
        XCTAssertEqual(p.rules[1].ports, [])
    }

    func testErrorsArePositionedAndNothingIsReturned() {
        let r = parse(
            """
            apiVersion: cilium.io/v2
            kind: CiliumNetworkPolicy
            metadata: {name: bad}
            spec:
              endpointSelector: {matchLabels: {app: x}}
              egress:
              - toFQDNs: [{matchName: example.com}]
                toCIDR: [10.1.2.3/8]
              - toEntities: [wrld]
                toPorts: [{ports: [{port: "80", protocl: TCP}], rules: {http: [{}]}}]
            """)
        XCTAssertFalse(r.isValid)
        XCTAssertTrue(r.policies.isEmpty)
        let text = r.diagnostics.map(\.description)
        XCTAssertTrue(text.contains { $0.hasPrefix("p.yaml:7:5: error: spec.egress[0].toFQDNs: toFQDNs cannot be combined with toCIDR") }, "\(text)")
        XCTAssertTrue(text.contains { $0.hasPrefix("p.yaml:8:14: error:") && $0.contains("host bits set: write 10.0.0.0/8") }, "\(text)")
        XCTAssertTrue(text.contains { $0.hasPrefix("p.yaml:9:18: error:") && $0.contains("did you mean \"world\"") }, "\(text)")
        XCTAssertTrue(text.contains { $0.contains("unknown key \"protocl\"") && $0.contains("did you mean \"protocol\"") }, "\(text)")
        XCTAssertTrue(text.contains { $0.contains("L7 rules (http) are not enforced") }, "\(text)")
    }

    func testToFQDNsAndDNSVisibility() throws {
        let r = parse(
            """
            apiVersion: cilium.io/v2
            kind: CiliumNetworkPolicy
            metadata: {name: fq}
            spec:
              endpointSelector: {matchLabels: {app: x}}
              egress:
              - toEndpoints: [{matchLabels: {k8s-app: kube-dns}}]
                toPorts:
                - ports: [{port: "53", protocol: ANY}]
                  rules: {dns: [{matchPattern: "*"}]}
              - toFQDNs: [{matchName: API.Example.com.}, {matchPattern: "*.cdn.example.com"}, {matchPattern: "*"}]
                toPorts: [{ports: [{port: "443", protocol: TCP}]}]
            """)
        XCTAssertTrue(r.isValid, "\(r.diagnostics)")
        let p = try XCTUnwrap(r.policies.first)
        XCTAssertEqual(p.rules[0].dnsVisiblePorts, [PortRange(proto: .any, first: 53, last: 53)])
        XCTAssertEqual(p.rules[1].peers.map { if case .fqdn(let s) = $0 { s.key } else { "" } }, ["api.example.com", "*.cdn.example.com", "*"])
        XCTAssertEqual(p.rules[1].dnsVisiblePorts, [])

        let bad = parse(
            """
            apiVersion: cilium.io/v2
            kind: CiliumNetworkPolicy
            metadata: {name: bad}
            spec:
              endpointSelector: {}
              egress:
              - toFQDNs: [{matchPattern: "api.*.example.com"}, {matchName: "*.example.com"}, {matchName: "a..b"}, {}]
              - toPorts: [{ports: [{port: "53"}], rules: {dns: [{matchName: "only.example.com"}]}}]
              egressDeny:
              - toFQDNs: [{matchName: example.com}]
              ingress:
              - toPorts: [{ports: [{port: "53"}], rules: {dns: [{matchPattern: "*"}]}}]
            """)
        XCTAssertTrue(bad.policies.isEmpty)
        let text = bad.diagnostics.map(\.description)
        XCTAssertTrue(text.contains { $0.hasPrefix("p.yaml:7:30: error:") && $0.contains("wildcard in the first label only") }, "\(text)")
        XCTAssertTrue(text.contains { $0.contains("matchName takes a name, not a pattern") }, "\(text)")
        XCTAssertTrue(text.contains { $0.contains("empty label") }, "\(text)")
        XCTAssertTrue(text.contains { $0.contains("write matchName (a name) or matchPattern") }, "\(text)")
        XCTAssertTrue(text.contains { $0.contains("DNS query filtering by name (only.example.com) is not enforced") }, "\(text)")
        XCTAssertTrue(text.contains { $0.contains("toFQDNs is not supported in egressDeny") }, "\(text)")
        XCTAssertTrue(text.contains { $0.contains("DNS rules apply to egress") }, "\(text)")
    }

    func testFQDNSelectorMatchesOneLabelLevelAsCilium() throws {
        let star = try FQDNSelector.parse("*.example.com", pattern: true).get()
        XCTAssertTrue(star.matches("a.example.com"))
        XCTAssertTrue(star.matches("A.Example.COM."))
        XCTAssertFalse(star.matches("a.b.example.com"))
        XCTAssertFalse(star.matches("example.com"))
        XCTAssertFalse(star.matches("aexample.com"))
        let name = try FQDNSelector.parse("example.com", pattern: false).get()
        XCTAssertTrue(name.matches("example.com") && !name.matches("www.example.com"))
        XCTAssertTrue(FQDNSelector.everyName.matches("anything.at.all"))
        XCTAssertEqual(try FQDNSelector.parse("plain.example.com", pattern: true).get().key, "plain.example.com")
        XCTAssertThrowsError(try FQDNSelector.parse(String(repeating: "a.", count: 64) + "com", pattern: false).get())
        XCTAssertThrowsError(try FQDNSelector.parse("*.*.example.com", pattern: true).get())
        // `*` inside the first label: any label characters there, never a dot (Cilium's `*`)
        let api = try FQDNSelector.parse("API-*.example.com", pattern: true).get()
        XCTAssertEqual(api.key, "api-*.example.com")
        XCTAssertTrue(api.labelPattern! == ("api-", "", ".example.com"))
        XCTAssertTrue(api.matches("api-1.example.com") && api.matches("api-.example.com") && api.matches("API-Prod.example.com."))
        XCTAssertFalse(api.matches("api.example.com") || api.matches("api-1.x.example.com") || api.matches("web.example.com"))
        XCTAssertFalse(api.matches("api-1.example.org"))
        let both = try FQDNSelector.parse("db*1.example.com", pattern: true).get()
        XCTAssertTrue(both.matches("db1.example.com") && both.matches("db-west-1.example.com"))
        XCTAssertFalse(both.matches("db2.example.com") || both.matches("xdb1.example.com"))
        let suffix = try FQDNSelector.parse("*-prod.example.com", pattern: true).get()
        XCTAssertTrue(suffix.matches("api-prod.example.com") && !suffix.matches("prod.example.com"))
        XCTAssertNil(try FQDNSelector.parse("*.example.com", pattern: true).get().labelPattern, "a whole first label stays a plain lookup")
        XCTAssertThrowsError(try FQDNSelector.parse("a*b*c.example.com", pattern: true).get(), "one `*` per label")
        XCTAssertThrowsError(try FQDNSelector.parse("api.*.example.com", pattern: true).get(), "a wildcard past the first label")
        XCTAssertThrowsError(try FQDNSelector.parse("api-*.example.com", pattern: false).get(), "matchName takes no pattern")
        XCTAssertThrowsError(try FQDNSelector.parse("ex ample.com", pattern: false).get())
    }

    func testWrongKindAndAPIVersion() {
        let r = parse("apiVersion: cilium.io/v1alpha1\nkind: CiliumNetworkPolicy\nmetadata: {name: x}\nspec: {endpointSelector: {}}\n")
        XCTAssertEqual(
            r.diagnostics.first?.description, "p.yaml:1:13: error: apiVersion: CiliumNetworkPolicy needs apiVersion: cilium.io/v2, found \"cilium.io/v1alpha1\""
        )
        let k = parse("apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicie\nmetadata: {name: x}\nspec: {endpointSelector: {}}\n")
        XCTAssertTrue(k.diagnostics.first?.description.contains("did you mean \"CiliumNetworkPolicy\"") ?? false)
    }

    func testAuditModeAnnotation() throws {
        let doc = { (annotations: String) in
            "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: web\n  annotations: \(annotations)\nspec: {endpointSelector: {}, ingress: [{}]}\n"
        }
        XCTAssertEqual(try XCTUnwrap(parse(doc("{vigil.io/policy-audit-mode: \"true\"}")).policies.first).auditMode, true)
        XCTAssertEqual(try XCTUnwrap(parse(doc("{vigil.io/policy-audit-mode: \"false\", other.io/x: y}")).policies.first).auditMode, false)
        XCTAssertEqual(try XCTUnwrap(parse(doc("{other.io/x: y}")).policies.first).auditMode, false)
        // a typo would enforce what its author meant to audit: refused, with the key's position
        let typo = parse(doc("{vigil.io/policy-audit: \"true\"}"))
        XCTAssertTrue(typo.policies.isEmpty)
        XCTAssertTrue(
            typo.diagnostics.first?.description.hasPrefix(
                "p.yaml:5:17: error: metadata.annotations.vigil.io/policy-audit: unknown annotation \"vigil.io/policy-audit\" (did you mean \"vigil.io/policy-audit-mode\"?)"
            )
                ?? false, "\(typo.diagnostics)")
        let value = parse(doc("{vigil.io/policy-audit-mode: \"yes\"}"))
        XCTAssertTrue(value.policies.isEmpty)
        XCTAssertTrue(value.diagnostics.first?.description.contains("expected \"true\" or \"false\"") ?? false, "\(value.diagnostics)")
    }

    func testEndpointsFile() {
        let ok = EndpointFileLoader.parse(
            Array("endpoints:\n- name: web\n  labels: {app: web}\n- name: db\n  namespace: data\n  labels: {app: db}\n".utf8), file: "e.yaml")
        XCTAssertEqual(ok.endpoints, [EndpointSpec(name: "web", labels: ["app": "web"]), EndpointSpec(name: "db", namespace: "data", labels: ["app": "db"])])
        let audited = EndpointFileLoader.parse(Array("endpoints:\n- name: web\n  labels: {app: web}\n  policyAuditMode: true\n".utf8), file: "e.yaml")
        XCTAssertEqual(audited.endpoints, [EndpointSpec(name: "web", labels: ["app": "web"], policyAuditMode: true)])
        let bad = EndpointFileLoader.parse(Array("endpoints:\n- name: web\n  lables: {app: web}\n".utf8), file: "e.yaml")
        XCTAssertEqual(
            bad.diagnostics.first?.description.hasPrefix("e.yaml:3:3: error: endpoints[0].lables: unknown key \"lables\" (did you mean \"labels\"?)"), true,
            "\(bad.diagnostics)")
    }
}

/// The network policies and endpoints file the repository ships (examples/datapath) are valid.
final class ShippedNetworkPoliciesTests: XCTestCase {
    func testExamplesValidate() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let dir = root + "/examples/datapath"
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertEqual(files, ["egress-lockdown.yaml", "endpoints.yaml", "three-tier.yaml"])
        for f in files {
            if f == "endpoints.yaml" {
                let r = EndpointFileLoader.load(path: "\(dir)/\(f)")
                XCTAssertEqual(r.diagnostics, [])
                XCTAssertEqual(r.endpoints.map(\.name), ["frontend", "backend", "db"])
            } else {
                let r = NetworkPolicyLoader.load(path: "\(dir)/\(f)")
                XCTAssertTrue(r.isValid, "\(f): \(r.diagnostics)")
                XCTAssertFalse(r.policies.isEmpty)
            }
        }
    }
}
