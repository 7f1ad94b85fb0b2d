import AgentCore
import Foundation
import NetworkPolicy
import Synchronization

/// Names the ends of the datapath's flow records for the drain thread. The controller runs on
/// the agent's housekeeping thread and publishes, after each apply, what naming needs (the
/// identities' labels, CIDR identities, rule names, endpoints by address): one small copy per
/// flow under an uncontended lock, never a wait for an apply in progress. The DNS names
/// learned from answers belong to the drain thread, which alone reads the answer records.
public final class FlowNamer: Sendable {
    struct LocalEndpoint: Sendable {
        var name: String
        var namespace: String
        var id: UInt32
    }
    struct RemoteEndpoint: Sendable {
        var name: String
        var namespace: String
    }
    /// What the controller last applied, as naming reads it.
    struct Naming: Sendable {
        var labels: [UInt32: [String]] = [:]
        var cidr: [UInt32: String] = [:]
        var rules: [UInt32: String] = [:]
        var local: [String: LocalEndpoint] = [:]
        var remote: [String: RemoteEndpoint] = [:]
    }

    private let naming = Mutex(Naming())
    private let learnedNames = Mutex(LearnedNames())
    /// Fleet mode: identities of other nodes' endpoints not (yet) among the remote endpoints.
    private let cluster: ClusterIdentities?

    init(cluster: ClusterIdentities?) { self.cluster = cluster }

    func publish(_ n: Naming) { naming.withLock { $0 = n } }

    /// Labels as flow events show them: `k8s:app=db`, sorted.
    static func labelStrings(_ l: Labels) -> [String] { l.values.keys.sorted().map { "k8s:\($0)=\(l.values[$0]!)" } }

    /// A DNS answer the kernel learned for a toFQDNs rule: later flows to the address carry the name.
    public func learned(_ r: FQDNRecord) { learnedNames.withLock { $0.learn(r) } }

    /// Names a flow record's ends (identity labels, endpoint names, the DNS names the peer's
    /// address was learned under) and its rule.
    public func flowEvent(_ r: FlowRecord, process: ProcessEntry?, parent: ProcessEntry?, timeNs: UInt64) -> FlowEvent {
        let n = naming.withLock { $0 }
        let src = side(n, address: r.saddr, port: r.sport, identity: r.srcIdentity)
        let dst = side(n, address: r.daddr, port: r.dport, identity: r.dstIdentity)
        var event = FlowEvent(
            kind: r.kind, source: src, destination: dst, proto: FlowRecord.protoName(r.proto), tcpFlags: r.tcpFlags,
            direction: r.ingress ? "INGRESS" : "EGRESS", isReply: r.isReply, dropReason: r.dropReason,
            policyRule: r.ruleID == 0 ? nil : n.rules[r.ruleID], process: process, parent: parent,
            packets: r.packets, bytes: r.bytes, timeNs: timeNs)
        // the peer is the destination of what the endpoint sends, the source of what it receives
        if r.ingress {
            event.sourceNames = learnedNames.withLock { $0.names(endpoint: r.endpointID, address: r.saddr) }
        } else {
            event.destinationNames = learnedNames.withLock { $0.names(endpoint: r.endpointID, address: r.daddr) }
        }
        return event
    }

    private func side(_ n: Naming, address: [UInt8], port: UInt16, identity raw: UInt32) -> FlowEvent.Endpoint {
        let text = String(IPPrefix(bytes: address, length: 32).description.split(separator: "/")[0])
        let identity = Identity(raw)
        var labels: [String]
        if let l = n.labels[raw] {
            labels = l
        } else if let l = cluster?.labels(of: identity) {
            labels = Self.labelStrings(l)
        } else if let name = identity.reservedName {
            labels = ["reserved:\(name)"]
        } else if let prefix = n.cidr[raw] {
            labels = ["cidr:\(prefix)", "reserved:world"]
        } else {
            labels = []
        }
        var e = FlowEvent.Endpoint(address: text, port: port, identity: raw, labels: labels)
        if let l = n.local[text] {
            e.name = l.name
            e.namespace = l.namespace
            e.endpointID = l.id
        } else if let r = n.remote[text] {
            e.name = r.name
            e.namespace = r.namespace
        }
        return e
    }
}
