import AgentCore
import CVigilABI

#if canImport(Glibc)
    import Glibc
#endif

/// struct vigil_sock_data (addresses IPv4-mapped, ports in host order) as Tetragon names its
/// fields: one decoder for policy sock arguments and the network sensor.
extension HookArgValue.SocketInfo {
    public static let families: [UInt16: String] = [1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6", 16: "AF_NETLINK", 17: "AF_PACKET"]
    static let types: [UInt16: String] = [1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 5: "SOCK_SEQPACKET"]
    static let protocols: [UInt16: String] = [
        0: "IPPROTO_IP", 1: "IPPROTO_ICMP", 6: "IPPROTO_TCP", 17: "IPPROTO_UDP", 58: "IPPROTO_ICMPV6", 132: "IPPROTO_SCTP",
    ]
    static let states: [UInt16: String] = [
        1: "TCP_ESTABLISHED", 2: "TCP_SYN_SENT", 3: "TCP_SYN_RECV", 4: "TCP_FIN_WAIT1", 5: "TCP_FIN_WAIT2",
        6: "TCP_TIME_WAIT", 7: "TCP_CLOSE", 8: "TCP_CLOSE_WAIT", 9: "TCP_LAST_ACK", 10: "TCP_LISTEN", 11: "TCP_CLOSING",
    ]

    public init(_ s: vigil_sock_data) {
        self.init(
            family: Self.families[s.family] ?? "\(s.family)", type: Self.types[s.type] ?? "\(s.type)",
            protocol: Self.protocols[s.protocol] ?? "\(s.protocol)", saddr: socketAddressString(s.saddr), daddr: socketAddressString(s.daddr),
            sport: s.sport, dport: s.dport, state: Self.states[s.state] ?? "")
    }
}

/// A 16-byte address as text; IPv4-mapped addresses print as IPv4.
public func socketAddressString<T>(_ raw: T) -> String {
    let bytes = withUnsafeBytes(of: raw) { Array($0) }
    if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
        return ipAddressString(Array(bytes[12..<16]), family: AF_INET)
    }
    return ipAddressString(bytes, family: AF_INET6)
}

/// An IPv4 (4 bytes) or IPv6 (16 bytes) address in network order as text (inet_ntop).
func ipAddressString(_ bytes: [UInt8], family: Int32) -> String {
    var raw = bytes
    var buf = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
    _ = inet_ntop(family, &raw, &buf, socklen_t(buf.count))
    return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
