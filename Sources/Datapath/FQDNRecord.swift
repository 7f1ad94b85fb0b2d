import CVigilABI

/// A DNS answer the kernel learned for an endpoint's toFQDNs rules (struct vigil_fqdn_record).
public struct FQDNRecord: Sendable, Equatable {
    public var endpointID: UInt32
    /// IPv4, network order as 4 bytes.
    public var address: [UInt8]
    public var ttl: UInt32
    public var selector: UInt32
    public var name: String
    public var timeNs: UInt64

    public static func decode(_ bytes: UnsafeRawBufferPointer) -> FQDNRecord? {
        guard bytes.count >= MemoryLayout<vigil_fqdn_record>.size else { return nil }
        let r = bytes.loadUnaligned(as: vigil_fqdn_record.self)
        let name = withUnsafeBytes(of: r.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard !name.isEmpty else { return nil }
        return FQDNRecord(
            endpointID: r.endpoint_id, address: withUnsafeBytes(of: r.addr) { Array($0) }, ttl: r.ttl, selector: r.selector, name: name,
            timeNs: r.header.ktime_ns)
    }
}

/// The names DNS answers gave addresses, per endpoint: flows to (and replies from) an address
/// are named with them (Hubble's destination_names / source_names). Bounded: the oldest half
/// is forgotten when it is full.
struct LearnedNames {
    struct Key: Hashable {
        var endpoint: UInt32
        var address: [UInt8]
    }
    private var names: [Key: [String: UInt64]] = [:]  // name -> last learned (ktime)
    static let capacity = 65536

    mutating func learn(_ r: FQDNRecord) {
        if names.count >= Self.capacity {
            let cut = names.map { $0.value.values.max() ?? 0 }.sorted()[names.count / 2]
            names = names.filter { ($0.value.values.max() ?? 0) > cut }
        }
        names[Key(endpoint: r.endpointID, address: r.address), default: [:]][r.name] = r.timeNs
    }

    func names(endpoint: UInt32, address: [UInt8]) -> [String] {
        (names[Key(endpoint: endpoint, address: address)] ?? [:]).keys.sorted()
    }
}
