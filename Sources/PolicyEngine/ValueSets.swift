import CVigilABI

#if canImport(Glibc)
    import Glibc
#endif

/// The value sets one hook's selectors test against, as they go into the hook's maps:
/// strings (Equal, Prefix, binaries, addresses) and reversed strings (Postfix) in LPM
/// tries keyed by set id, integers in a hash. Built by `SelectorCompiler`, written into the
/// kernel by `HookProgram` before attach.
public struct ValueSets: Sendable, Equatable {
    /// One trie member: `prefixBits` leading bits of `bytes` under set `set`.
    public struct TrieEntry: Sendable, Equatable {
        public var set: UInt32
        public var bytes: [UInt8]
        public var prefixBits: Int
        /// What the kernel reads back: the member's length in bytes (Equal compares it).
        public var length: UInt32
    }

    public private(set) var strings: [TrieEntry] = []
    public private(set) var reversedStrings: [TrieEntry] = []
    public private(set) var integers: [(set: UInt32, value: Int64)] = []
    /// SubString values, in the hook's `substrings` array: a filter's values are `nvalues`
    /// consecutive entries from its `set` (an index here).
    public private(set) var substrings: [[UInt8]] = []
    private var nextSet: UInt32 = 1

    public init() {}

    public static func == (a: ValueSets, b: ValueSets) -> Bool {
        a.strings == b.strings && a.reversedStrings == b.reversedStrings && a.integers.elementsEqual(b.integers, by: { $0 == $1 })
            && a.substrings == b.substrings
    }

    mutating func newSet() -> UInt32 {
        defer { nextSet += 1 }
        return nextSet
    }

    /// A string set (for Equal/Prefix when `reversed` is false, Postfix when true).
    mutating func addStrings(_ values: [String], reversed: Bool) -> UInt32 {
        let set = newSet()
        for v in values {
            var bytes = Array(v.utf8)
            if reversed { bytes.reverse() }
            let e = TrieEntry(set: set, bytes: bytes, prefixBits: bytes.count * 8, length: UInt32(bytes.count))
            if reversed { reversedStrings.append(e) } else { strings.append(e) }
        }
        return set
    }

    /// An address set from CIDRs ("10.0.0.0/8", "fd00::/8", "192.168.1.1"); IPv4 as IPv4-mapped IPv6.
    mutating func addAddresses(_ cidrs: [(bytes: [UInt8], bits: Int)]) -> UInt32 {
        let set = newSet()
        for c in cidrs { strings.append(TrieEntry(set: set, bytes: c.bytes, prefixBits: c.bits, length: 16)) }
        return set
    }

    /// SubString values (lower-cased for SubStringIgnCase: the kernel lower-cases the argument's ASCII letters).
    mutating func addSubstrings(_ values: [String], ignoringCase: Bool) -> UInt32 {
        let first = UInt32(substrings.count)
        for v in values { substrings.append(Array((ignoringCase ? v.lowercased() : v).utf8)) }
        return first
    }

    mutating func addIntegers(_ values: [Int64]) -> UInt32 {
        let set = newSet()
        for v in values { integers.append((set, v)) }
        return set
    }

    /// The trie key bytes of an entry (struct vigil_string_key).
    static func trieKey(_ e: TrieEntry) -> [UInt8] {
        var key = [UInt8](repeating: 0, count: MemoryLayout<vigil_string_key>.size)
        withUnsafeBytes(of: UInt32(32 + e.prefixBits)) { key.replaceSubrange(0..<4, with: $0) }
        withUnsafeBytes(of: e.set) { key.replaceSubrange(4..<8, with: $0) }
        key.replaceSubrange(8..<(8 + e.bytes.count), with: e.bytes)
        return key
    }

    /// Parses a CIDR or address into 16 bytes and a prefix length (IPv4 mapped into IPv6).
    public static func parseCIDR(_ text: String) -> (bytes: [UInt8], bits: Int)? {
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        guard let addr = parts.first else { return nil }
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, addr, &v4) == 1 {
            let bits = parts.count > 1 ? Int(parts[1]) : 32
            guard let bits, (0...32).contains(bits) else { return nil }
            let raw = withUnsafeBytes(of: v4.s_addr) { Array($0) }
            return ([UInt8](repeating: 0, count: 10) + [0xff, 0xff] + raw, 96 + bits)
        }
        if inet_pton(AF_INET6, addr, &v6) == 1 {
            let bits = parts.count > 1 ? Int(parts[1]) : 128
            guard let bits, (0...128).contains(bits) else { return nil }
            return (withUnsafeBytes(of: v6) { Array($0) }, bits)
        }
        return nil
    }
}
