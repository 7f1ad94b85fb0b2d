/// A flow seen by the identity-aware datapath (Hubble's flow, plus the process that opened it):
/// a new forwarded flow, a dropped packet, or a TCP flow's end.
public struct FlowEvent: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        case new = "NEW"
        case drop = "DROP"
        case close = "CLOSE"
        /// the first packet of a flow policy would drop, forwarded (audit mode); `dropReason`
        /// and `policyRule` say what would have dropped it
        case audit = "AUDIT"
    }

    /// One end of the flow, as Hubble names it.
    public struct Endpoint: Sendable, Equatable {
        public var address: String
        public var port: UInt16
        public var identity: UInt32
        /// `k8s:app=db`, or `reserved:world` / `cidr:10.0.0.0/8` for peers that are not endpoints.
        public var labels: [String]
        /// The endpoint's name and namespace when it is one of this node's endpoints.
        public var name: String?
        public var namespace: String?
        public var endpointID: UInt32?

        public init(address: String, port: UInt16, identity: UInt32, labels: [String], name: String? = nil, namespace: String? = nil, endpointID: UInt32? = nil)
        {
            self.address = address
            self.port = port
            self.identity = identity
            self.labels = labels
            self.name = name
            self.namespace = namespace
            self.endpointID = endpointID
        }
    }

    public var kind: Kind
    public var source: Endpoint
    public var destination: Endpoint
    /// "TCP", "UDP", "SCTP", "ICMPv4", or the protocol number.
    public var proto: String
    public var tcpFlags: UInt8
    /// "INGRESS" or "EGRESS", from the local endpoint's side.
    public var direction: String
    public var isReply: Bool
    /// 0 when forwarded.
    public var dropReason: UInt32
    /// The rule that decided ("default/allow-frontend ingress[0]"), nil for default verdicts.
    public var policyRule: String?
    /// The process that opened the flow (in the kernel, from its connect), when known.
    public var process: ProcessEntry?
    public var parent: ProcessEntry?
    public var packets: UInt64
    public var bytes: UInt64
    public var timeNs: UInt64
    /// DNS names the peer's address was learned under for the endpoint (toFQDNs), as Hubble's
    /// source_names / destination_names.
    public var sourceNames: [String] = []
    public var destinationNames: [String] = []

    public init(
        kind: Kind, source: Endpoint, destination: Endpoint, proto: String, tcpFlags: UInt8, direction: String, isReply: Bool,
        dropReason: UInt32, policyRule: String?, process: ProcessEntry?, parent: ProcessEntry?, packets: UInt64, bytes: UInt64, timeNs: UInt64
    ) {
        self.kind = kind
        self.source = source
        self.destination = destination
        self.proto = proto
        self.tcpFlags = tcpFlags
        self.direction = direction
        self.isReply = isReply
        self.dropReason = dropReason
        self.policyRule = policyRule
        self.process = process
        self.parent = parent
        self.packets = packets
        self.bytes = bytes
        self.timeNs = timeNs
    }

    /// Hubble's verdict names.
    public var verdict: String {
        switch kind {
        case .drop: "DROPPED"
        case .audit: "AUDIT"
        case .new, .close: "FORWARDED"
        }
    }

    public static let verdicts = ["FORWARDED", "DROPPED", "AUDIT"]

    /// Hubble's drop reason names for the reasons the datapath gives.
    public var dropReasonName: String? {
        switch dropReason {
        case 0: nil
        case 133: "POLICY_DENIED"
        case 181: "POLICY_DENY"
        case 139: "UNSUPPORTED_L3_PROTOCOL"
        default: "DROP_REASON_\(dropReason)"
        }
    }

    /// TCP flag names set in `tcpFlags`, Hubble's spelling.
    public var tcpFlagNames: [String] {
        [(0x01, "FIN"), (0x02, "SYN"), (0x04, "RST"), (0x08, "PSH"), (0x10, "ACK"), (0x20, "URG")].filter { tcpFlags & UInt8($0.0) != 0 }.map(\.1)
    }
}
