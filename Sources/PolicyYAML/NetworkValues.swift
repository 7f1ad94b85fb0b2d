import Foundation

/// Names and syntax of network values in selectors (protocols, families, TCP states, CIDRs).
enum NetworkValues {
    static let protocols: [String: Int] = ["IPPROTO_IP": 0, "IPPROTO_ICMP": 1, "IPPROTO_TCP": 6, "IPPROTO_UDP": 17,
                                           "IPPROTO_IPV6": 41, "IPPROTO_ICMPV6": 58, "IPPROTO_SCTP": 132, "IPPROTO_RAW": 255]
    static let families: [String: Int] = ["AF_UNSPEC": 0, "AF_UNIX": 1, "AF_LOCAL": 1, "AF_INET": 2, "AF_INET6": 10,
                                          "AF_NETLINK": 16, "AF_PACKET": 17, "AF_VSOCK": 40, "AF_XDP": 44]
    static let tcpStates: [String: Int] = ["TCP_ESTABLISHED": 1, "TCP_SYN_SENT": 2, "TCP_SYN_RECV": 3, "TCP_FIN_WAIT1": 4,
                                           "TCP_FIN_WAIT2": 5, "TCP_TIME_WAIT": 6, "TCP_CLOSE": 7, "TCP_CLOSE_WAIT": 8,
                                           "TCP_LAST_ACK": 9, "TCP_LISTEN": 10, "TCP_CLOSING": 11, "TCP_NEW_SYN_RECV": 12]

    /// An IPv4/IPv6 address, optionally with a /prefix that fits its family.
    static func isAddressOrCIDR(_ text: String) -> Bool {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2 else { return false }
        var v4 = in_addr()
        var v6 = in6_addr()
        let addr = String(parts[0])
        let bits: Int
        if inet_pton(AF_INET, addr, &v4) == 1 { bits = 32 } else if inet_pton(AF_INET6, addr, &v6) == 1 { bits = 128 } else { return false }
        if parts.count == 2 {
            guard let n = Int(parts[1]), (0...bits).contains(n), parts[1].allSatisfy(\.isNumber) else { return false }
        }
        return true
    }
}
