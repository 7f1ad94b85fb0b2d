import Foundation

/// An IPv4 or IPv6 prefix (`10.0.0.0/8`, `2001:db8::/32`), host bits cleared.
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// 4 or 16 bytes, network order.
    public let address: [UInt8]
    public let length: Int

    public var isIPv4: Bool { address.count == 4 }

    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2, let bytes = Self.parseAddress(String(parts[0])) else { return nil }
        let bits = bytes.count * 8
        var length = bits
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].allSatisfy(\.isNumber), let n = Int(parts[1]), n <= bits else { return nil }
            length = n
        }
        self.init(bytes: bytes, length: length)
    }

    public init(bytes: [UInt8], length: Int) {
        var b = bytes
        for i in 0..<b.count {
            let keep = max(0, min(8, length - i * 8))
            b[i] &= keep == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - keep))
        }
        address = b
        self.length = length
    }

    public static func parseAddress(_ s: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, s, &v4) == 1 { return withUnsafeBytes(of: v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, s, &v6) == 1 { return withUnsafeBytes(of: v6) { Array($0) } }
        return nil
    }

    /// Whether `other` lies inside this prefix (same family, at least as long).
    public func contains(_ other: IPPrefix) -> Bool {
        guard other.address.count == address.count, other.length >= length else { return false }
        return IPPrefix(bytes: other.address, length: length).address == address
    }

    public var description: String {
        let text: String
        if isIPv4 {
            text = address.map(String.init).joined(separator: ".")
        } else {
            var a = in6_addr()
            withUnsafeMutableBytes(of: &a) { $0.copyBytes(from: address) }
            var buf = [UInt8](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            buf.withUnsafeMutableBufferPointer { b in
                b.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b.count) { _ = inet_ntop(AF_INET6, &a, $0, socklen_t(b.count)) }
            }
            text = String(decoding: buf.prefix { $0 != 0 }, as: UTF8.self)
        }
        return "\(text)/\(length)"
    }

    public static func < (a: IPPrefix, b: IPPrefix) -> Bool {
        (a.address.count, a.address, a.length) < (b.address.count, b.address, b.length)
    }
}

private func < (a: (Int, [UInt8], Int), b: (Int, [UInt8], Int)) -> Bool {
    if a.0 != b.0 { return a.0 < b.0 }
    if a.1 != b.1 { return a.1.lexicographicallyPrecedes(b.1) }
    return a.2 < b.2
}
