import CMalloc
import Foundation

/// Hands memory the agent no longer uses back to the kernel: after start-up, the heap's free
/// pages (malloc_trim) and the pages of the agent's own code and read-only data that start-up's
/// one-off phases touched (feature probes, the policy parser and compiler, libbpf's loader,
/// the gRPC and protobuf set-up); after each policy change, the heap's only (`releaseHeap`).
///
/// The code's pages go by MADV_PAGEOUT on the read-only file mappings: their pages are clean copies of
/// the binary and libraries, so reclaiming them costs nothing but a fault when the code runs
/// again; the drain's hot path faults its few pages back in at its first events. Measured
/// (BENCHMARKS.md, "Idle memory"): most of the idle agent's resident memory was such pages.
/// Writable mappings (relocated data, the heap, the ring buffer) are left alone: paging them
/// out would mean swap. Kernels before 5.4 lack MADV_PAGEOUT; the call then does nothing.
enum MemoryRelease {
    /// One malloc arena for every thread, set before the agent's threads start. Start-up and
    /// policy loads run on the drain and policy threads; in arenas of their own, what they
    /// free ends in each arena's top chunk, which malloc_trim does not hand back outside the
    /// main arena (measured: an 11 MiB resident arena at idle). The drain allocates per event
    /// (json-c's objects), so it shares the arena's lock with the policy thread: held per call,
    /// and by malloc_trim for its madvise calls (11 ms in all after fim-sensitive-files loaded,
    /// strace -T); throughput measured before and after in BENCHMARKS.md.
    static func useOneArena() { _ = mallopt(M_ARENA_MAX, 1) }

    /// MADV_PAGEOUT (linux/mman.h; Swift's Glibc module does not export it).
    static let madvPageout: Int32 = 21

    /// The heap's free pages only: after a policy change while events flow. Paging the code
    /// out then would page out the drain's own decode and JSON code too, and the drain would
    /// take major faults at the event rate, behind whatever the disk is busy with (the export's
    /// writeback): a stall of the ring's reader, paid in lost records.
    static func releaseHeap() { _ = malloc_trim(0) }

    /// The heap's free pages and the code's read-only pages: after start-up, before the drain
    /// reads its first record. Returns the bytes advised (for the log).
    @discardableResult
    static func releaseUnusedPages() -> Int {
        releaseHeap()
        guard let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8) else { return 0 }
        var advised = 0
        for line in maps.split(separator: "\n") {
            // start-end perms offset dev inode path
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[5].hasPrefix("/"), !fields[1].contains("w") else { continue }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16), end > start,
                let address = UnsafeMutableRawPointer(bitPattern: start)
            else { continue }
            if madvise(address, Int(end - start), madvPageout) == 0 { advised += Int(end - start) }
        }
        return advised
    }
}
