import AgentCore
import CVigilABI

/// A network sensor record (struct vigil_net_record), decoded from ring-buffer bytes.
public struct NetworkRecord: Sendable {
    public var kind: NetworkEvent.Kind
    public var process: ExecIdentity
    public var pid: UInt32
    public var tid: UInt32
    public var socket: HookArgValue.SocketInfo
    public var cookie: UInt64
    public var failed: Bool
    public var bytesSent: UInt64
    public var bytesReceived: UInt64
    public var durationNs: UInt64
    public var timeNs: UInt64

    /// nil for a short record or an unknown kind.
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> NetworkRecord? {
        guard bytes.count >= MemoryLayout<vigil_net_record>.size else { return nil }
        let r = bytes.loadUnaligned(as: vigil_net_record.self)
        let kind: NetworkEvent.Kind
        switch r.kind {
        case VIGIL_NET_CONNECT: kind = .connect
        case VIGIL_NET_ACCEPT: kind = .accept
        case VIGIL_NET_CLOSE: kind = .close
        case VIGIL_NET_UDP: kind = .udp
        case VIGIL_NET_SCAN: kind = .scan
        default: return nil
        }
        return NetworkRecord(
            kind: kind, process: ExecIdentity(r.process), pid: r.pid, tid: r.tid, socket: HookArgValue.SocketInfo(r.sock),
            cookie: r.cookie, failed: r.flags & VIGIL_NETF_FAILED != 0, bytesSent: r.bytes_sent,
            bytesReceived: r.bytes_received, durationNs: r.duration_ns, timeNs: r.header.ktime_ns)
    }
}

/// A DNS record (struct vigil_dns_record): the packet's endpoints and the message bytes.
public struct DNSRecord: Sendable {
    public var process: ExecIdentity?
    public var pid: UInt32
    public var egress: Bool
    public var socket: HookArgValue.SocketInfo
    public var cookie: UInt64
    public var message: [UInt8]
    /// The packet held more than the kernel copied.
    public var cut: Bool
    public var timeNs: UInt64

    public static func decode(_ bytes: UnsafeRawBufferPointer) -> DNSRecord? {
        guard bytes.count >= MemoryLayout<vigil_dns_record>.size else { return nil }
        let dataOffset = MemoryLayout<vigil_dns_record>.offset(of: \.data)!
        // scalars only: the 512-byte array is sliced in place
        let r = bytes.loadUnaligned(as: vigil_dns_record.self)
        let n = min(Int(r.len), Int(VIGIL_DNS_BYTES))
        return DNSRecord(
            process: r.pid == 0 ? nil : ExecIdentity(r.process), pid: r.pid, egress: r.direction == VIGIL_DNS_EGRESS,
            socket: HookArgValue.SocketInfo(r.sock), cookie: r.cookie,
            message: Array(bytes[dataOffset..<(dataOffset + n)]), cut: r.orig_len > r.len, timeNs: r.header.ktime_ns)
    }
}
