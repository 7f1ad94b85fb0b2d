#if canImport(Glibc)
    import Glibc
#endif

/// A DNS message (RFC 1035) parsed from the bytes the kernel copied: header, questions and
/// answers. Never trusts the input: every read is bounds-checked, compression pointers may
/// only point backwards and are followed a bounded number of times.
public struct DNSMessage: Sendable, Equatable {
    public var id: UInt16
    public var isResponse: Bool
    public var rcode: UInt8
    public var questions: [(name: String, type: UInt16)]
    public var answers: [(name: String, type: UInt16, ttl: UInt32, data: String)]
    /// Parsing stopped early (the copy was cut, or the message is malformed).
    public var incomplete: Bool

    public static func == (a: DNSMessage, b: DNSMessage) -> Bool {
        a.id == b.id && a.isResponse == b.isResponse && a.rcode == b.rcode && a.incomplete == b.incomplete
            && a.questions.map(\.name) == b.questions.map(\.name) && a.questions.map(\.type) == b.questions.map(\.type)
            && a.answers.map(\.name) == b.answers.map(\.name) && a.answers.map(\.data) == b.answers.map(\.data)
    }

    static let typeNames: [UInt16: String] = [
        1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA",
        33: "SRV", 35: "NAPTR", 43: "DS", 46: "RRSIG", 48: "DNSKEY", 64: "SVCB", 65: "HTTPS", 255: "ANY",
    ]
    static let rcodeNames: [UInt8: String] = [0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"]

    public static func typeName(_ t: UInt16) -> String { typeNames[t] ?? "TYPE\(t)" }
    public static func rcodeName(_ r: UInt8) -> String { rcodeNames[r] ?? "RCODE\(r)" }

    /// nil when the bytes are not even a DNS header.
    public static func parse(_ bytes: [UInt8]) -> DNSMessage? {
        guard bytes.count >= 12 else { return nil }
        func u16(_ o: Int) -> UInt16? { o + 2 <= bytes.count ? UInt16(bytes[o]) << 8 | UInt16(bytes[o + 1]) : nil }
        func u32(_ o: Int) -> UInt32? {
            o + 4 <= bytes.count ? UInt32(bytes[o]) << 24 | UInt32(bytes[o + 1]) << 16 | UInt32(bytes[o + 2]) << 8 | UInt32(bytes[o + 3]) : nil
        }
        let flags = u16(2)!
        var m = DNSMessage(id: u16(0)!, isResponse: flags & 0x8000 != 0, rcode: UInt8(flags & 0xf), questions: [], answers: [], incomplete: false)
        let qd = Int(u16(4)!)
        let an = Int(u16(6)!)
        guard qd <= 32, an <= 256 else {
            m.incomplete = true
            return m
        }

        /// A (possibly compressed) name at `start`; returns it and the offset after it.
        func name(at start: Int) -> (String, Int)? {
            var labels: [String] = []
            var o = start
            var end: Int? = nil
            var jumps = 0
            while true {
                guard o < bytes.count else { return nil }
                let len = Int(bytes[o])
                if len == 0 {
                    o += 1
                    break
                }
                if len & 0xc0 == 0xc0 {
                    guard let p = u16(o), jumps < 16 else { return nil }
                    let target = Int(p & 0x3fff)
                    guard target < o else { return nil }  // only backwards: no loops
                    if end == nil { end = o + 2 }
                    o = target
                    jumps += 1
                    continue
                }
                guard len <= 63, o + 1 + len <= bytes.count else { return nil }
                labels.append(String(decoding: bytes[(o + 1)..<(o + 1 + len)], as: UTF8.self))
                o += 1 + len
            }
            return (labels.isEmpty ? "." : labels.joined(separator: "."), end ?? o)
        }

        var o = 12
        for _ in 0..<qd {
            guard let (n, next) = name(at: o), let t = u16(next) else {
                m.incomplete = true
                return m
            }
            m.questions.append((n, t))
            o = next + 4
        }
        for _ in 0..<an {
            guard let (n, next) = name(at: o), let t = u16(next), let ttl = u32(next + 4), let rdlen = u16(next + 8).map(Int.init),
                next + 10 + rdlen <= bytes.count
            else {
                m.incomplete = true
                return m
            }
            let rd = next + 10
            let data: String
            switch t {
            case 1 where rdlen == 4: data = ipAddressString(Array(bytes[rd..<(rd + 4)]), family: AF_INET)
            case 28 where rdlen == 16: data = ipAddressString(Array(bytes[rd..<(rd + 16)]), family: AF_INET6)
            case 2, 5, 12: data = name(at: rd)?.0 ?? ""
            case 15: data = "\(u16(rd) ?? 0) " + (name(at: rd + 2)?.0 ?? "")
            case 16:
                var parts: [String] = []
                var p = rd
                while p < rd + rdlen {
                    let l = Int(bytes[p])
                    guard p + 1 + l <= rd + rdlen else { break }
                    parts.append(String(decoding: bytes[(p + 1)..<(p + 1 + l)], as: UTF8.self))
                    p += 1 + l
                }
                data = parts.joined()
            default: data = bytes[rd..<(rd + rdlen)].map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
            }
            m.answers.append((n, t, ttl, data))
            o = rd + rdlen
        }
        return m
    }
}
