import BPFKit

/// The maps every Vigil object shares, made by the process sensor (bpf/include/vigil_shared_maps.h):
/// the one ring buffer (records in order), the process table (identities, binaries), and the
/// file system roots of the global path walk. Policy hooks, the network sensor and the datapath
/// reuse them by file descriptor.
public struct SharedKernelMaps {
    public var events: BPFMap
    public var processes: BPFMap
    public var superBlockRoots: BPFMap
    /// matchBinaries followChildren: binary identity -> slots (the process sensor's, written by `FollowSlots`).
    public var followBinaries: BPFMap
    /// Ring bytes produced between two early wakeups of the reader (a quarter of the ring).
    public var wakeupBytes: UInt64

    public init(events: BPFMap, processes: BPFMap, superBlockRoots: BPFMap, followBinaries: BPFMap, wakeupBytes: UInt64) {
        self.events = events
        self.processes = processes
        self.superBlockRoots = superBlockRoots
        self.followBinaries = followBinaries
        self.wakeupBytes = wakeupBytes
    }

    /// The same maps through descriptors of their own: a value another thread can own.
    public func duplicate() throws(BPFError) -> sending SharedKernelMaps {
        SharedKernelMaps(
            events: try events.duplicate(), processes: try processes.duplicate(), superBlockRoots: try superBlockRoots.duplicate(),
            followBinaries: try followBinaries.duplicate(), wakeupBytes: wakeupBytes)
    }

    /// Points `object`'s copies of the shared maps (those it defines) at these, and sets its
    /// wakeup threshold. Call before `object.load()`.
    public func share(with object: BPFObject) throws(BPFError) {
        let names = Set(object.maps.map(\.name))
        if names.contains("events") { try object.map("events").reuse(events) }
        if names.contains("processes") { try object.map("processes").reuse(processes) }
        if names.contains("sb_roots") { try object.map("sb_roots").reuse(superBlockRoots) }
        if object.hasRodata("wakeup_bytes") { try object.setRodata("wakeup_bytes", to: wakeupBytes) }
    }
}

extension ProcessSensor {
    /// The shared maps, to hand to policy hooks and the other sensors.
    public func sharedMaps() throws(BPFError) -> SharedKernelMaps {
        SharedKernelMaps(
            events: try eventsMap(), processes: try processesMap(), superBlockRoots: try superBlockRootsMap(),
            followBinaries: try object.map("follow_binaries"),
            wakeupBytes: wakeupBytes)
    }
}
