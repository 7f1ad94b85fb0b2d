import NetworkPolicy
import PolicyYAML
import XCTest

/// Suggested policies validate, allow every observed flow and nothing new between groups, and
/// stay coarse (peers sharing ports share a rule, shared services get one baseline rule).
final class PolicySuggesterTests: XCTestCase {
    static func end(_ last: UInt8, _ app: String?, identity: UInt32, ns: String = "default", reserved: String? = nil) -> ObservedFlow.End {
        var labels: [String: String] = [:]
        if let app {
            labels = ["app": app, Labels.namespaceKey: ns]
        }
        return ObservedFlow.End(address: [10, 213, 0, last], identity: identity, labels: labels, reserved: reserved)
    }

    static let frontend = end(2, "frontend", identity: 300)
    static let frontend2 = end(3, "frontend", identity: 300)
    static let backend = end(4, "backend", identity: 301)
    static let db = end(5, "db", identity: 302)
    static let dns = end(6, "dns", identity: 303)
    static let monitor = end(7, "monitor", identity: 304, ns: "ops")
    static let external = ObservedFlow.End(address: [192, 0, 2, 10], identity: 2, labels: [:], reserved: "world")

    /// A connection between two endpoints is seen at both: the sender's egress, the receiver's ingress.
    static func both(
        _ src: ObservedFlow.End, _ dst: ObservedFlow.End, _ port: UInt16, _ proto: PortRange.Proto = .tcp, _ verdict: ObservedFlow.Verdict = .forwarded
    )
        -> [ObservedFlow]
    {
        [
            ObservedFlow(local: src, remote: dst, direction: .egress, proto: proto, port: port, verdict: verdict, timeNs: 1),
            ObservedFlow(local: dst, remote: src, direction: .ingress, proto: proto, port: port, verdict: verdict, timeNs: 1),
        ]
    }

    static var scenario: [ObservedFlow] {
        both(frontend, backend, 8080) + both(frontend2, backend, 8080) + both(backend, db, 5432) + both(frontend, frontend2, 9000)
            // dns is a shared service: three groups use it
            + both(frontend, dns, 53, .udp) + both(backend, dns, 53, .udp) + both(db, dns, 53, .udp)
            // another namespace's monitor scrapes backend and db on 9100
            + both(monitor, backend, 9100) + both(monitor, db, 9100, .tcp, .audit)
            // backend calls out to an external API
            + [ObservedFlow(local: backend, remote: external, direction: .egress, proto: .tcp, port: 443, verdict: .forwarded, timeNs: 1)]
            // dropped when observed: stays dropped
            + both(frontend, db, 5432, .tcp, .dropped)
    }

    func resolved(_ yaml: String) throws -> (policies: [NetworkPolicy], models: [[UInt8]: EndpointModel]) {
        let parsed = NetworkPolicyLoader.parse(Array(yaml.utf8), file: "suggested.yaml")
        XCTAssertTrue(parsed.isValid, "\(parsed.diagnostics)\n\(yaml)")
        var models: [[UInt8]: EndpointModel] = [:]
        for e in [Self.frontend, Self.frontend2, Self.backend, Self.db, Self.dns, Self.monitor] {
            models[e.address] = EndpointModel(
                id: UInt32(models.count + 1), name: "\(e.address)", namespace: e.namespace, labels: Labels(e.labels), identity: Identity(e.identity),
                addresses: [IPPrefix(bytes: e.address, length: 32)])
        }
        return (parsed.policies, models)
    }

    func verdict(_ state: DatapathState, _ models: [[UInt8]: EndpointModel], _ f: ObservedFlow) -> PolicyVerdict.Outcome {
        PolicyVerdict.decide(
            state, endpoint: models[f.local.address]!.id, direction: f.direction, peer: PolicyVerdict.identity(of: f.remote.address, in: state),
            proto: f.proto.number, port: f.port
        ).outcome
    }

    func testSuggestionAllowsEveryObservedFlowAndDropsNewOnes() throws {
        let s = PolicySuggester().suggest(Self.scenario)
        let (policies, models) = try resolved(s.yaml)
        let state = PolicyResolver().resolve(endpoints: Array(models.values), policies: policies, hostAddresses: [])
        for f in Self.scenario {
            XCTAssertEqual(verdict(state, models, f), f.verdict == .dropped ? .dropped : .forwarded, "\(f.description)\n\(s.yaml)")
        }
        // flows nobody observed: frontend to db's port, db calling backend, an external address not seen
        for f in Self.both(Self.frontend, Self.db, 5432) + Self.both(Self.db, Self.backend, 8080) + Self.both(Self.frontend, Self.backend, 22) {
            XCTAssertEqual(verdict(state, models, f), .dropped, "\(f.description) was never observed")
        }
        let other = ObservedFlow(
            local: Self.backend, remote: .init(address: [192, 0, 2, 11], identity: 2, labels: [:], reserved: "world"), direction: .egress, proto: .tcp,
            port: 443, verdict: .forwarded, timeNs: 1)
        XCTAssertEqual(verdict(state, models, other), .dropped, "only the external address that was reached")
    }

    func testRulesAreCoarseAndCounted() throws {
        let s = PolicySuggester().suggest(Self.scenario)
        // one policy per group plus the baseline for the shared dns service
        XCTAssertEqual(s.policies, 6, s.yaml)
        XCTAssertTrue(s.yaml.contains("name: \"baseline-shared-services\""), s.yaml)
        XCTAssertTrue(s.yaml.contains("toEndpoints: [{matchLabels: {\"app\": \"dns\"}}]\n    toPorts: [{ports: [{port: \"53\", protocol: UDP}]}]"), s.yaml)
        // the other namespace's monitor is named with its namespace
        XCTAssertTrue(s.yaml.contains("{\"app\": \"monitor\", \"io.kubernetes.pod.namespace\": \"ops\"}"), s.yaml)
        // the external API by address, never the whole world
        XCTAssertTrue(s.yaml.contains("toCIDR: [\"192.0.2.10/32\"]"), s.yaml)
        XCTAssertFalse(s.yaml.contains("toEntities: [\"world\"]"), s.yaml)
        // both frontends' ingress into backend:8080 in one rule, counted
        let backendRules = s.rules.filter { $0.policy == "default/suggested-backend" }
        XCTAssertTrue(backendRules.contains { $0.flows == 2 }, "\(backendRules)")
        XCTAssertEqual(s.rules.map(\.flows).reduce(0, +), Self.scenario.filter { $0.verdict != .dropped }.count, "every allowed flow counted once")
    }

    func testExternalPeersReachedByNameGetToFQDNsWithDNSVisibility() throws {
        let resolverAddr = ObservedFlow.End(address: [192, 0, 2, 53], identity: 2, labels: [:], reserved: "world")
        var api = Self.external
        api.names = ["api.example.com"]
        let flows = [
            ObservedFlow(local: Self.backend, remote: resolverAddr, direction: .egress, proto: .udp, port: 53, verdict: .forwarded, timeNs: 1),
            ObservedFlow(local: Self.backend, remote: api, direction: .egress, proto: .tcp, port: 443, verdict: .forwarded, timeNs: 1),
        ]
        let s = PolicySuggester().suggest(flows)
        XCTAssertTrue(s.yaml.contains("toFQDNs: [{matchName: \"api.example.com\"}]"), s.yaml)
        XCTAssertFalse(s.yaml.contains("192.0.2.10"), "never the raw address of a resolved name: \(s.yaml)")
        XCTAssertTrue(s.yaml.contains("toPorts: [{ports: [{port: \"53\", protocol: UDP}], rules: {dns: [{matchPattern: \"*\"}]}}]"), s.yaml)
        let (policies, models) = try resolved(s.yaml)
        let state = PolicyResolver().resolve(endpoints: Array(models.values), policies: policies, hostAddresses: [])
        let local = models[Self.backend.address]!.id
        func decide(_ f: ObservedFlow) -> PolicyVerdict.Outcome {
            PolicyVerdict.decide(
                state, endpoint: local, direction: .egress, peer: PolicyVerdict.identity(of: f.remote.address, in: state), proto: f.proto.number,
                port: f.port, names: f.remote.names
            ).outcome
        }
        XCTAssertEqual(decide(flows[1]), .forwarded, "the name allows it")
        var moved = api
        moved.address = [198, 51, 100, 7]
        XCTAssertEqual(
            decide(ObservedFlow(local: Self.backend, remote: moved, direction: .egress, proto: .tcp, port: 443, verdict: .forwarded, timeNs: 1)), .forwarded,
            "the name's new address too")
        var unnamed = moved
        unnamed.names = []
        XCTAssertEqual(
            decide(ObservedFlow(local: Self.backend, remote: unnamed, direction: .egress, proto: .tcp, port: 443, verdict: .forwarded, timeNs: 1)), .dropped,
            "an address no name gave")
    }

    func testWithoutTheGroupLabelEndpointsAreGroupedByTheirLabels() throws {
        let a = ObservedFlow.End(address: [10, 213, 0, 20], identity: 400, labels: ["role": "x", Labels.namespaceKey: "default"])
        let b = ObservedFlow.End(address: [10, 213, 0, 21], identity: 401, labels: ["role": "y", Labels.namespaceKey: "default"])
        let s = PolicySuggester().suggest(Self.both(a, b, 80))
        XCTAssertTrue(s.yaml.contains("name: \"suggested-role-x\""), s.yaml)
        XCTAssertTrue(NetworkPolicyLoader.parse(Array(s.yaml.utf8), file: "s.yaml").isValid)
    }
}

/// Exposure on a known scenario: reach allowed by the policies against who connected.
final class ExposureTests: XCTestCase {
    func testUnusedReachIsReportedPerEndpointAndPort() throws {
        typealias S = PolicySuggesterTests
        let models = [S.frontend, S.backend, S.db].enumerated().map { i, e in
            EndpointModel(
                id: UInt32(i + 1), name: "ep\(i)", namespace: "default", labels: Labels(e.labels), identity: Identity(e.identity),
                addresses: [IPPrefix(bytes: e.address, length: 32)])
        }
        let yaml = """
            apiVersion: cilium.io/v2
            kind: CiliumNetworkPolicy
            metadata: {name: db}
            spec:
              endpointSelector: {matchLabels: {app: db}}
              ingress:
              - fromEndpoints: [{matchLabels: {app: backend}}, {matchLabels: {app: frontend}}]
                toPorts: [{ports: [{port: "5432", protocol: TCP}]}]
              - fromEntities: [world]
                toPorts: [{ports: [{port: "9100", protocol: TCP}]}]
            """
        let policies = NetworkPolicyLoader.parse(Array(yaml.utf8), file: "p.yaml").policies
        XCTAssertEqual(policies.count, 1)
        let rows = Exposure.compute(endpoints: models, policies: policies, observed: S.both(S.backend, S.db, 5432))
        let db5432 = try XCTUnwrap(rows.first { $0.endpoint == "default/ep2" && $0.port == "TCP/5432" }, "\(rows)")
        XCTAssertEqual(db5432.reachableFrom, ["app=frontend", "app=backend"])
        XCTAssertEqual(db5432.connectedFrom, ["app=backend"])
        XCTAssertEqual(db5432.unused, ["app=frontend"])
        XCTAssertEqual(db5432.connections, 1)
        let db9100 = try XCTUnwrap(rows.first { $0.endpoint == "default/ep2" && $0.port == "TCP/9100" })
        XCTAssertTrue(db9100.worldReachable)
        XCTAssertEqual(db9100.connections, 0)
        // endpoints no policy selects: everyone reaches everything
        XCTAssertEqual(rows.first { $0.endpoint == "default/ep0" }?.reachableFrom, ["everyone"])
    }

    func testInboundHistoryFoldsRepeatsAndForgetsOutsideTheWindow() {
        typealias S = PolicySuggesterTests
        var h = InboundHistory(windowSeconds: 10, capacity: 2)
        func flow(_ src: ObservedFlow.End, _ t: UInt64, _ v: ObservedFlow.Verdict = .forwarded) -> ObservedFlow {
            ObservedFlow(local: S.db, remote: src, direction: .ingress, proto: .tcp, port: 5432, verdict: v, timeNs: t * 1_000_000_000)
        }
        h.record(flow(S.backend, 1))
        h.record(flow(S.backend, 2))
        h.record(flow(S.frontend, 3, .dropped))  // a drop is no used reach
        XCTAssertEqual(h.window(nowNs: 5_000_000_000).map(\.count), [2])
        h.record(flow(S.frontend, 6))
        h.record(flow(S.monitor, 7))  // over capacity: the oldest pair goes
        XCTAssertEqual(Set(h.window(nowNs: 8_000_000_000).map(\.remote.address)), [S.frontend.address, S.monitor.address])
        XCTAssertEqual(h.window(nowNs: 16_500_000_000).map(\.remote.address), [S.monitor.address], "older than the window")
    }

    func testInboundHistoryAtCapacityDropsTheOldestEighthAtOnce() {
        var h = InboundHistory(windowSeconds: 1000, capacity: 64)
        func flow(_ i: UInt64) -> ObservedFlow {
            let peer = ObservedFlow.End(address: [10, 0, UInt8(i >> 8), UInt8(i & 255)], identity: 2, labels: [:], reserved: "world")
            return ObservedFlow(
                local: PolicySuggesterTests.db, remote: peer, direction: .ingress, proto: .tcp, port: 5432, verdict: .forwarded,
                timeNs: i * 1_000_000_000)
        }
        for i: UInt64 in 1...64 { h.record(flow(i)) }
        XCTAssertEqual(h.window(nowNs: 100_000_000_000).count, 64)
        h.record(flow(65))  // full: peers 1-8 go, 65 comes in
        let held = Set(h.window(nowNs: 100_000_000_000).map { UInt64($0.remote.address[2]) << 8 | UInt64($0.remote.address[3]) })
        XCTAssertEqual(held, Set(UInt64(9)...65))
        for i: UInt64 in 66...72 { h.record(flow(i)) }  // room for seven more without another eviction
        XCTAssertEqual(h.window(nowNs: 100_000_000_000).count, 64)
    }
}
