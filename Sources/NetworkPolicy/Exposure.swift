/// Exposure: for each endpoint and port, who may reach it under the policies in force against
/// who actually connected. What a security team prioritises by is the allowed reach nobody
/// uses, above all from the world and from other groups: risk without business.
public struct ExposureRow: Sendable, Equatable {
    /// `namespace/name`
    public var endpoint: String
    /// `TCP/5432`, `TCP/8000-8063`, `any` (every protocol and port)
    public var port: String
    /// Peers allowed to connect (`app=frontend`, `world`, `host`, `everyone`).
    public var reachableFrom: [String]
    /// Peers that did connect in the window.
    public var connectedFrom: [String]
    /// Allowed peers that did not connect.
    public var unused: [String] { reachableFrom.filter { !connectedFrom.contains($0) } }
    public var worldReachable: Bool { reachableFrom.contains("world") || reachableFrom.contains("everyone") }
    /// connections seen in the window
    public var connections: Int
}

public enum Exposure {
    /// `endpoints`: this node's endpoints; `observed`: flows of the window (their ingress side
    /// is used); `groupLabel`: how peers are named (`app=frontend`; endpoints without it by name).
    public static func compute(endpoints: [EndpointModel], policies: [NetworkPolicy], observed: [ObservedFlow], groupLabel: String = "app") -> [ExposureRow] {
        let state = PolicyResolver().resolve(endpoints: endpoints, policies: policies, hostAddresses: [])
        func name(_ e: EndpointModel) -> String { e.labels.value(groupLabel).map { "\(groupLabel)=\($0)" } ?? e.name }
        // peers by identity: the endpoints (one name per identity), the host and the world
        var peers: [(Identity, String)] = []
        for e in endpoints.sorted(by: { $0.identity < $1.identity }) where !peers.contains(where: { $0.0 == e.identity }) {
            peers.append((e.identity, name(e)))
        }
        peers += [(.host, "host"), (.world, "world")]
        peers += state.cidrIdentities.sorted { $0.key < $1.key }.map { ($0.value, "cidr:\($0.key)") }
        func peerName(_ f: ObservedFlow) -> String {
            if let e = endpoints.first(where: { $0.addresses.contains(IPPrefix(bytes: f.remote.address, length: 32)) }) { return name(e) }
            if let e = endpoints.first(where: { $0.identity.rawValue == f.remote.identity }) { return name(e) }
            if f.remote.isEndpoint { return f.remote.labels[groupLabel].map { "\(groupLabel)=\($0)" } ?? f.remote.addressText }
            let id = PolicyVerdict.identity(of: f.remote.address, in: state)
            return peers.first { $0.0 == id }?.1 ?? (f.remote.reserved ?? "world")
        }

        var rows: [ExposureRow] = []
        for e in endpoints.sorted(by: { ($0.namespace, $0.name) < ($1.namespace, $1.name) }) {
            let inbound = observed.filter {
                $0.direction == .ingress && $0.verdict != .dropped && e.addresses.contains(IPPrefix(bytes: $0.local.address, length: 32))
            }
            let label = "\(e.namespace)/\(e.name)"
            let enforced = (state.enforcement[e.id] ?? []).contains(.ingress) || (state.auditing[e.id] ?? []).contains(.ingress)
            if !enforced {
                // no ingress default deny: every peer reaches every port no deny rule names
                rows.append(
                    ExposureRow(
                        endpoint: label, port: "any", reachableFrom: ["everyone"], connectedFrom: Array(Set(inbound.map(peerName))).sorted(),
                        connections: inbound.reduce(0) { $0 + $1.count }))
                continue
            }
            // the ports the policy names for this endpoint, and the ports that were used
            var blocks = Set(state.entries.filter { $0.endpoint == e.id && $0.direction == .ingress && !$0.deny }.map(\.match))
            for f in inbound where !blocks.contains(where: { $0.contains(ProtoPortPrefix(proto: f.proto.number, port: f.port, bits: 32)) }) {
                blocks.insert(ProtoPortPrefix(proto: f.proto.number, port: f.port, bits: 32))
            }
            for block in blocks.sorted() {
                // a block is judged at its first port (entries are whole blocks); any protocol as TCP
                let proto = block.bits == 0 ? UInt8(6) : block.proto
                let allowed = peers.filter { id, _ in
                    PolicyVerdict.decide(state, endpoint: e.id, direction: .ingress, peer: id, proto: proto, port: block.port).outcome != .dropped
                }.map(\.1)
                let used = inbound.filter { block.contains(ProtoPortPrefix(proto: $0.proto.number, port: $0.port, bits: 32)) }
                guard !allowed.isEmpty || !used.isEmpty else { continue }
                rows.append(
                    ExposureRow(
                        endpoint: label, port: block.description, reachableFrom: allowed, connectedFrom: Array(Set(used.map(peerName))).sorted(),
                        connections: used.reduce(0) { $0 + $1.count }))
            }
        }
        return rows
    }
}

/// Inbound flows of a sliding window, folded per (endpoint address, peer address, protocol,
/// port): what the agent keeps to compute exposure continuously (metrics). Bounded: beyond
/// `capacity` pairs the oldest are forgotten.
public struct InboundHistory: Sendable {
    struct Key: Hashable {
        var local: [UInt8]
        var remote: [UInt8]
        var proto: PortRange.Proto
        var port: UInt16
    }
    private var flows: [Key: ObservedFlow] = [:]
    public let windowNs: UInt64
    public let capacity: Int

    public init(windowSeconds: UInt64, capacity: Int = 65536) {
        windowNs = windowSeconds * 1_000_000_000
        self.capacity = capacity
    }

    /// Counts a repeat of a pair already held; false when the pair is new (then `record` it):
    /// the drain thread builds the flow's labels only for new pairs.
    public mutating func fold(local: [UInt8], remote: [UInt8], proto: PortRange.Proto, port: UInt16, timeNs: UInt64) -> Bool {
        let key = Key(local: local, remote: remote, proto: proto, port: port)
        guard var seen = flows[key] else { return false }
        seen.count += 1
        seen.timeNs = max(seen.timeNs, timeNs)
        flows[key] = seen
        return true
    }

    public mutating func record(_ f: ObservedFlow) {
        guard f.direction == .ingress, f.verdict != .dropped else { return }
        if fold(local: f.local.address, remote: f.remote.address, proto: f.proto, port: f.port, timeNs: f.timeNs) { return }
        let key = Key(local: f.local.address, remote: f.remote.address, proto: f.proto, port: f.port)
        if flows.count >= capacity {
            // The oldest eighth goes at once (the drain thread records these): one sort per
            // capacity/8 new pairs, not a scan of the whole table for each new pair once full.
            let times = flows.values.map(\.timeNs).sorted()
            let cutoff = times[min(max(capacity / 8, 1), times.count) - 1]
            flows = flows.filter { $0.value.timeNs > cutoff }
        }
        flows[key] = f
    }

    /// The folded flows seen within the window before `nowNs` (older ones are dropped).
    public mutating func window(nowNs: UInt64) -> [ObservedFlow] {
        let cutoff = nowNs > windowNs ? nowNs - windowNs : 0
        flows = flows.filter { $0.value.timeNs >= cutoff }
        return Array(flows.values)
    }
}
