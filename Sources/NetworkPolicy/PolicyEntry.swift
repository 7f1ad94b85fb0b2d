/// One policy-map entry: for endpoint `endpoint`, traffic in `direction` with a peer of
/// `identity` (`.any`: every peer) whose protocol and destination port fall in `match`
/// is allowed or denied (`audit`: a deny of an audit-mode policy, reported and forwarded).
public struct PolicyEntry: Hashable, Sendable {
    public var endpoint: UInt32
    public var direction: TrafficDirection
    public var identity: Identity
    public var match: ProtoPortPrefix
    public var deny: Bool
    public var ruleID: UInt32
    public var audit: Bool = false
    /// An allow of a DNS-visible rule (`rules.dns`): answers on its flows feed toFQDNs rules.
    public var dns: Bool = false

    /// Which of two entries for the same traffic wins: an enforced deny, then an audit-mode
    /// deny, then an allow (lower first).
    var strength: Int { deny ? (audit ? 1 : 0) : 2 }
}

/// Protocol and port as one 32-bit value `proto << 24 | port` matched on its top `bits`:
/// 0 bits: any protocol; 8: one protocol, any port; 16 + k: a protocol and an aligned block of
/// 2^(16-k) ports. This is how the kernel's LPM trie key ends, so a port range becomes a few
/// aligned blocks and a lookup costs the same whatever the number of rules.
public struct ProtoPortPrefix: Hashable, Sendable, Comparable {
    public var value: UInt32
    public var bits: Int

    public init(proto: UInt8, port: UInt16, bits: Int) {
        let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - bits)
        value = (UInt32(proto) << 24 | UInt32(port)) & mask
        self.bits = bits
    }

    public var proto: UInt8 { UInt8(value >> 24) }
    public var port: UInt16 { UInt16(value & 0xffff) }

    public func contains(_ other: ProtoPortPrefix) -> Bool {
        guard other.bits >= bits else { return false }
        let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - bits)
        return other.value & mask == value
    }

    /// The aligned blocks covering one protocol's `range`.
    public static func blocks(proto: UInt8, range: ClosedRange<UInt16>) -> [ProtoPortPrefix] {
        if range == 0...65535 { return [ProtoPortPrefix(proto: proto, port: 0, bits: 8)] }
        var out: [ProtoPortPrefix] = []
        var start = UInt32(range.lowerBound)
        let end = UInt32(range.upperBound)
        while start <= end {
            // largest aligned block starting at `start` that stays within the range
            var size: UInt32 = start == 0 ? 1 << 16 : start & (~start + 1)
            while start + size - 1 > end { size >>= 1 }
            out.append(ProtoPortPrefix(proto: proto, port: UInt16(start), bits: 16 + 16 - size.trailingZeroBitCount))
            start += size
        }
        return out
    }

    public static func < (a: ProtoPortPrefix, b: ProtoPortPrefix) -> Bool { (a.value, a.bits) < (b.value, b.bits) }

    /// `TCP/8080`, `TCP/8000-8063`, `UDP/any`, `any`.
    public var description: String {
        if bits == 0 { return "any" }
        let name = PortRange.Proto.allCases.first { $0.number == proto }?.rawValue ?? "proto-\(proto)"
        if bits <= 16 { return "\(name)/any" }
        let size = UInt32(1) << (32 - bits)
        return size == 1 ? "\(name)/\(port)" : "\(name)/\(port)-\(UInt32(port) + size - 1)"
    }
}
