/// Drains one or more BPF ring-buffer maps, handing each record to a callback.
///
/// The record bytes are only valid during the callback (they point into the shared ring):
/// decode in place, copy what must outlive it. No allocation happens per record here.
/// Requires Linux 5.8 (BPF ring buffer). The corresponding libbpf functions are
/// `ring_buffer__new`, `ring_buffer__add`, `ring_buffer__poll` and `ring_buffer__consume`.
public final class RingBuffer {
    /// Receives each record; return false to stop the current poll early.
    public typealias Handler = (UnsafeRawBufferPointer) -> Bool

    private final class Context {
        let handler: Handler
        init(_ handler: @escaping Handler) { self.handler = handler }
    }

    private let context: Context
    private let handle: OpaquePointer
    /// Keeps the maps' objects alive while the ring buffer polls them.
    private let maps: [BPFMap]

    private static let callback: Libbpf.SampleCallback = { ctx, data, size in
        let context = Unmanaged<Context>.fromOpaque(ctx!).takeUnretainedValue()
        // a negative return makes libbpf stop the drain after this record (a positive one is ignored)
        return context.handler(UnsafeRawBufferPointer(start: data, count: size)) ? 0 : Libbpf.ringBufferStop
    }

    /// Creates a reader over `maps` (all of type BPF_MAP_TYPE_RINGBUF, already loaded).
    public init(maps: [BPFMap], handler: @escaping Handler) throws(BPFError) {
        precondition(!maps.isEmpty, "RingBuffer needs at least one map")
        context = Context(handler)
        self.maps = maps
        let ctx = Unmanaged.passUnretained(context).toOpaque()
        handle = try Libbpf.ringBufferNew(fd: maps[0].fd, callback: Self.callback, context: ctx, subject: "map \(maps[0].name)")
        for map in maps.dropFirst() {
            do {
                try Libbpf.ringBufferAdd(handle, fd: map.fd, callback: Self.callback, context: ctx, subject: "map \(map.name)")
            } catch {
                Libbpf.ringBufferFree(handle)
                throw error
            }
        }
    }

    deinit { Libbpf.ringBufferFree(handle) }

    /// Waits up to `timeoutMs` for a wakeup, then drains everything available. Returns the
    /// number of records handled; EINTR counts as zero.
    ///
    /// Vigil's programs submit without waking the reader (a wakeup per record costs the
    /// producing CPU an irq_work), so epoll alone would not report those records: the drain
    /// after the wait is what picks them up.
    @discardableResult
    public func poll(timeoutMs: Int32) throws(BPFError) -> Int {
        let woken = Int(try Libbpf.ringBufferPoll(handle, timeoutMs: timeoutMs))
        return woken + Int(try Libbpf.ringBufferConsume(handle))
    }

    /// Drains whatever is available without waiting.
    @discardableResult
    public func consume() throws(BPFError) -> Int { Int(try Libbpf.ringBufferConsume(handle)) }

    /// An epoll fd that becomes readable when records arrive (for integrating with event loops).
    public var epollFD: Int32 { Libbpf.ringBufferEpollFD(handle) }
}
