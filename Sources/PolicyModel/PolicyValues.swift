#if canImport(Glibc)
    import Glibc
#endif

/// How policy values are spelled, parsed in one place for `vigil policy validate` and the
/// compiler alike (Tetragon's values are strings; its parser is Go's `strconv.ParseInt(v, 0, 64)`).
public enum PolicyValues {
    /// An integer as Go's base-0 syntax reads it: decimal, `0x` hex, `0o` or leading-`0` octal,
    /// `0b` binary, an optional sign, `_` between digits. nil when out of Int64's range.
    public static func integer(_ text: String) -> Int64? {
        var s = Substring(text)
        var negative = false
        if s.hasPrefix("-") {
            negative = true
            s = s.dropFirst()
        } else if s.hasPrefix("+") {
            s = s.dropFirst()
        }
        // Go allows `_` only between digits (and after a base prefix): "1_000", "0x_ff".
        if s.hasPrefix("_") || s.hasSuffix("_") || s.contains("__") { return nil }
        let digits = s.replacing("_", with: "")
        guard !digits.isEmpty else { return nil }
        let magnitude: UInt64?
        let lower = digits.lowercased()
        if lower.hasPrefix("0x") {
            magnitude = UInt64(lower.dropFirst(2), radix: 16)
        } else if lower.hasPrefix("0o") {
            magnitude = UInt64(lower.dropFirst(2), radix: 8)
        } else if lower.hasPrefix("0b") {
            magnitude = UInt64(lower.dropFirst(2), radix: 2)
        } else if lower.count > 1 && lower.hasPrefix("0") {
            magnitude = UInt64(lower.dropFirst(), radix: 8)
        } else {
            magnitude = UInt64(lower, radix: 10)
        }
        guard let m = magnitude, !(lower.hasPrefix("0x") || lower.hasPrefix("0o") || lower.hasPrefix("0b")) || lower.count > 2 else { return nil }
        if negative { return m <= UInt64(Int64.max) + 1 ? (m == UInt64(Int64.max) + 1 ? Int64.min : -Int64(m)) : nil }
        return m <= UInt64(Int64.max) ? Int64(m) : nil
    }

    /// An integer or a capability name (`CAP_SYS_ADMIN` is its bit number, 21).
    public static func integerOrCapability(_ text: String) -> Int64? {
        integer(text) ?? CapabilityName(rawValue: text).map { Int64($0.bit) }
    }

    /// Names the network operators accept, with their numbers (uapi headers).
    public static let protocols: [String: Int64] = [
        "IPPROTO_IP": 0, "IPPROTO_ICMP": 1, "IPPROTO_TCP": 6, "IPPROTO_UDP": 17,
        "IPPROTO_IPV6": 41, "IPPROTO_ICMPV6": 58, "IPPROTO_SCTP": 132, "IPPROTO_RAW": 255,
    ]
    public static let families: [String: Int64] = [
        "AF_UNSPEC": 0, "AF_UNIX": 1, "AF_LOCAL": 1, "AF_INET": 2, "AF_INET6": 10,
        "AF_NETLINK": 16, "AF_PACKET": 17, "AF_VSOCK": 40, "AF_XDP": 44,
    ]
    /// The kernel's TCP states (include/net/tcp_states.h), as Tetragon's State operator names them.
    public static let tcpStates: [String: Int64] = [
        "TCP_ESTABLISHED": 1, "TCP_SYN_SENT": 2, "TCP_SYN_RECV": 3, "TCP_FIN_WAIT1": 4,
        "TCP_FIN_WAIT2": 5, "TCP_TIME_WAIT": 6, "TCP_CLOSE": 7, "TCP_CLOSE_WAIT": 8,
        "TCP_LAST_ACK": 9, "TCP_LISTEN": 10, "TCP_CLOSING": 11, "TCP_NEW_SYN_RECV": 12,
    ]
    /// FileType / NotFileType names (Tetragon 1.7) with their S_IFMT values.
    public static let fileTypes: [String: Int64] = [
        "reg": 0o100000, "dir": 0o040000, "lnk": 0o120000, "sock": 0o140000,
        "chr": 0o020000, "blk": 0o060000, "fifo": 0o010000,
    ]

    /// An address or CIDR as 16 bytes (IPv4 mapped into IPv6, ::ffff:a.b.c.d) and a prefix length in bits.
    public static func cidr(_ text: String) -> CIDR? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 1 || parts.count == 2, let addr = parts.first else { return nil }
        var v4 = in_addr()
        var v6 = in6_addr()
        let bytes: [UInt8]
        let width: Int
        if inet_pton(AF_INET, addr, &v4) == 1 {
            bytes = [UInt8](repeating: 0, count: 10) + [0xff, 0xff] + withUnsafeBytes(of: v4.s_addr) { Array($0) }
            width = 32
        } else if inet_pton(AF_INET6, addr, &v6) == 1 {
            bytes = withUnsafeBytes(of: v6) { Array($0) }
            width = 128
        } else {
            return nil
        }
        var bits = width
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(parts[1]), (0...width).contains(n) else { return nil }
            bits = n
        }
        return CIDR(bytes: bytes, bits: width == 32 ? 96 + bits : bits)
    }
}

/// An address prefix in the kernel's form: 16 bytes, IPv4 mapped into IPv6.
public struct CIDR: Sendable, Equatable, Hashable {
    public var bytes: [UInt8]
    /// Leading bits that count (IPv4 prefixes are offset by the 96-bit mapping).
    public var bits: Int
}
