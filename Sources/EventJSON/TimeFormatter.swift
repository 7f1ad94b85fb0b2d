#if canImport(Glibc)
    import Glibc
#endif

/// RFC 3339 UTC with nanoseconds, as Tetragon prints times ("2026-11-22T23:23:35.000000007Z",
/// always 30 bytes), written into a stack buffer. Events come in bursts within one second, so
/// the date and time of day ("YYYY-MM-DDTHH:MM:SS.") are kept from the last call and only the
/// nanoseconds are written each time: through Swift Strings a time cost four allocations.
struct TimeFormatter {
    static let length = 30
    private var second: UInt64 = .max
    private var prefix = [UInt8](repeating: 0, count: 20)

    /// The text of `ns` (since the Unix epoch), handed to `body`.
    mutating func withText<R>(_ ns: UInt64, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        let s = ns / 1_000_000_000
        if s != second {
            second = s
            Self.writePrefix(second: s, into: &prefix)
        }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.length) { out in
            for i in 0..<20 { out[i] = prefix[i] }
            var frac = ns % 1_000_000_000
            for i in stride(from: 28, through: 20, by: -1) {
                out[i] = 0x30 + UInt8(frac % 10)
                frac /= 10
            }
            out[29] = 0x5a  // "Z"
            return body(UnsafeBufferPointer(out))
        }
    }

    /// "YYYY-MM-DDTHH:MM:SS." of a second since the epoch (UTC).
    private static func writePrefix(second: UInt64, into out: inout [UInt8]) {
        var t = time_t(second)
        var tm = tm()
        gmtime_r(&t, &tm)
        func put(_ v: Int32, _ at: Int, _ width: Int) {
            var v = Int(v)
            for i in stride(from: at + width - 1, through: at, by: -1) {
                out[i] = 0x30 + UInt8(v % 10)
                v /= 10
            }
        }
        put(tm.tm_year + 1900, 0, 4)
        out[4] = 0x2d  // -
        put(tm.tm_mon + 1, 5, 2)
        out[7] = 0x2d
        put(tm.tm_mday, 8, 2)
        out[10] = 0x54  // T
        put(tm.tm_hour, 11, 2)
        out[13] = 0x3a  // :
        put(tm.tm_min, 14, 2)
        out[16] = 0x3a
        put(tm.tm_sec, 17, 2)
        out[19] = 0x2e  // .
    }
}
