import AgentCore
import CVigilABI
import NetworkPolicy

/// A datapath flow record (struct vigil_flow_record), decoded from ring-buffer bytes.
public struct FlowRecord: Sendable, Equatable {
    public var kind: FlowEvent.Kind
    public var owner: ExecIdentity?
    public var pid: UInt32
    public var tid: UInt32
    /// Addresses in network order as 4 bytes each; ports in host order.
    public var saddr: [UInt8]
    public var daddr: [UInt8]
    public var sport: UInt16
    public var dport: UInt16
    public var proto: UInt8
    public var dropReason: UInt32
    public var endpointID: UInt32
    public var srcIdentity: UInt32
    public var dstIdentity: UInt32
    public var ruleID: UInt32
    public var ingress: Bool
    public var tcpFlags: UInt8
    public var isReply: Bool
    public var packets: UInt64
    public var bytes: UInt64
    public var timeNs: UInt64

    public static func decode(_ bytes: UnsafeRawBufferPointer) -> FlowRecord? {
        guard bytes.count >= MemoryLayout<vigil_flow_record>.size else { return nil }
        let r = bytes.loadUnaligned(as: vigil_flow_record.self)
        let kind: FlowEvent.Kind
        switch r.kind {
        case VIGIL_FLOW_NEW: kind = .new
        case VIGIL_FLOW_DROP: kind = .drop
        case VIGIL_FLOW_CLOSE: kind = .close
        case VIGIL_FLOW_AUDIT: kind = .audit
        default: return nil
        }
        return FlowRecord(
            kind: kind, owner: r.owner.pid == 0 ? nil : ExecIdentity(ktime: r.owner.process.ktime, pid: r.owner.process.pid), pid: r.owner.pid,
            tid: r.owner.tid,
            saddr: withUnsafeBytes(of: r.tuple.saddr) { Array($0) }, daddr: withUnsafeBytes(of: r.tuple.daddr) { Array($0) },
            sport: UInt16(bigEndian: r.tuple.sport), dport: UInt16(bigEndian: r.tuple.dport), proto: r.tuple.protocol,
            dropReason: r.drop_reason, endpointID: r.endpoint_id, srcIdentity: r.src_identity, dstIdentity: r.dst_identity,
            ruleID: r.rule_id, ingress: r.direction == UInt8(VIGIL_DIR_INGRESS), tcpFlags: r.tcp_flags, isReply: r.is_reply != 0,
            packets: r.packets, bytes: r.bytes, timeNs: r.header.ktime_ns)
    }

    public static func protoName(_ p: UInt8) -> String {
        switch p {
        case 6: "TCP"
        case 17: "UDP"
        case 132: "SCTP"
        case 1: "ICMPv4"
        default: "\(p)"
        }
    }
}

extension ObservedFlow {
    /// An inbound flow event as exposure counts it: the receiving endpoint and its peer with
    /// their identities and labels (`k8s:` labels of the event), at kernel time `timeNs`.
    public init(inbound e: FlowEvent, local: [UInt8], remote: [UInt8], timeNs: UInt64) {
        self.init(
            local: End(address: local, identity: e.destination.identity, hubbleLabels: e.destination.labels),
            remote: End(address: remote, identity: e.source.identity, hubbleLabels: e.source.labels), direction: .ingress,
            proto: PortRange.Proto(rawValue: e.proto) ?? .any, port: e.destination.port,
            verdict: e.kind == .audit ? .audit : .forwarded, timeNs: timeNs)
    }
}
