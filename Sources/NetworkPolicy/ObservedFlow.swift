/// One flow as the datapath reported it (a `flow` event of the export), seen from the local
/// endpoint whose policy decided it: the input of `vigil netpolicy suggest` and `exposure`.
public struct ObservedFlow: Hashable, Sendable {
    /// One end of the flow.
    public struct End: Hashable, Sendable {
        /// IPv4, 4 bytes
        public var address: [UInt8]
        public var identity: UInt32
        /// The endpoint's labels (the namespace label included); empty for a peer that is no endpoint.
        public var labels: [String: String]
        /// `world`, `host`, ... for a peer that is no endpoint.
        public var reserved: String?
        /// DNS names the address was learned under (toFQDNs; the flow's destination_names).
        public var names: [String]

        public init(address: [UInt8], identity: UInt32, labels: [String: String], reserved: String? = nil, names: [String] = []) {
            self.address = address
            self.identity = identity
            self.labels = labels
            self.reserved = reserved
            self.names = names
        }

        /// An end as a flow event names it: Hubble's label list (`k8s:app=db`,
        /// `reserved:world`, `cidr:...`; others ignored).
        public init(address: [UInt8], identity: UInt32, hubbleLabels: [String], names: [String] = []) {
            var labels: [String: String] = [:]
            var reserved: String?
            for l in hubbleLabels {
                if l.hasPrefix("k8s:") {
                    let kv = l.dropFirst(4).split(separator: "=", maxSplits: 1).map(String.init)
                    if kv.count == 2 { labels[kv[0]] = kv[1] }
                } else if l.hasPrefix("reserved:") {
                    reserved = String(l.dropFirst(9))
                }
            }
            self.init(address: address, identity: identity, labels: labels, reserved: reserved, names: names)
        }

        public var isEndpoint: Bool { !labels.isEmpty }
        public var namespace: String { labels[Labels.namespaceKey] ?? "default" }
        public var addressText: String { address.map(String.init).joined(separator: ".") }
    }

    public enum Verdict: String, Hashable, Sendable {
        case forwarded = "FORWARDED"
        case dropped = "DROPPED"
        case audit = "AUDIT"
    }

    /// The endpoint whose policy decided (the sender for egress, the receiver for ingress).
    public var local: End
    public var remote: End
    public var direction: TrafficDirection
    public var proto: PortRange.Proto
    /// the destination port
    public var port: UInt16
    public var verdict: Verdict
    public var timeNs: UInt64
    /// Flows this one stands for (a history that folds repeats of one peer and port: 1 or more).
    public var count: Int = 1

    public init(local: End, remote: End, direction: TrafficDirection, proto: PortRange.Proto, port: UInt16, verdict: Verdict, timeNs: UInt64) {
        self.local = local
        self.remote = remote
        self.direction = direction
        self.proto = proto
        self.port = port
        self.verdict = verdict
        self.timeNs = timeNs
    }

    /// `10.213.0.2 -> 10.213.0.4:5432/TCP (INGRESS at default/db)`, for reports.
    public var description: String {
        let (src, dst) = direction == .egress ? (local, remote) : (remote, local)
        return "\(src.addressText) -> \(dst.addressText):\(port)/\(proto.rawValue) (\(direction.rawValue) at \(local.addressText))"
    }
}
