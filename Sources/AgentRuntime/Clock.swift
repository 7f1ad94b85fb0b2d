#if canImport(Glibc)
    import Glibc
#endif

/// Converts kernel clocks to wall-clock time. bpf_ktime_get_ns is CLOCK_MONOTONIC;
/// task start times are CLOCK_BOOTTIME; both offsets are measured once at start.
public struct KernelClock: Sendable {
    public let monotonicToWallNs: Int64
    public let boottimeToWallNs: Int64

    public init() {
        func read(_ clock: clockid_t) -> Int64 {
            var ts = timespec()
            clock_gettime(clock, &ts)
            return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
        }
        let wall = read(CLOCK_REALTIME)
        monotonicToWallNs = wall - read(CLOCK_MONOTONIC)
        boottimeToWallNs = wall - read(CLOCK_BOOTTIME)
    }

    public func wall(monotonic ns: UInt64) -> UInt64 { UInt64(max(0, Int64(ns) + monotonicToWallNs)) }
    public func wall(boottime ns: UInt64) -> UInt64 { UInt64(max(0, Int64(ns) + boottimeToWallNs)) }

    public static func nowWallNs() -> UInt64 { now(CLOCK_REALTIME) }

    /// CLOCK_MONOTONIC now (intervals: it never steps).
    public static func nowMonotonicNs() -> UInt64 { now(CLOCK_MONOTONIC) }

    private static func now(_ clock: clockid_t) -> UInt64 {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
