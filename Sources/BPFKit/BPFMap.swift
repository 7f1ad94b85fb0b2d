import CLibbpf

#if canImport(Glibc)
    import Glibc
#endif

/// A BPF map: either one of a `BPFObject`'s maps or a standalone map created with
/// `BPFMap.create`. Keys and values are passed as raw bytes or as fixed-layout values
/// (`BitwiseCopyable`, e.g. structs from CVigilABI).
public struct BPFMap {
    /// Keeps the owning object alive (nil for standalone maps, which own `ownedFD`).
    let object: BPFObject?
    let handle: OpaquePointer?
    let ownedFD: FileDescriptorBox?

    init(object: BPFObject, handle: OpaquePointer) {
        self.object = object
        self.handle = handle
        ownedFD = nil
    }

    init(fd: FileDescriptorBox, name: String, keySize: Int, valueSize: Int) {
        object = nil
        handle = nil
        ownedFD = fd
        standaloneName = name
        standaloneKeySize = keySize
        standaloneValueSize = valueSize
    }

    private var standaloneName = ""
    private var standaloneKeySize = 0
    private var standaloneValueSize = 0

    /// The map's name.
    public var name: String { handle.map(Libbpf.mapName) ?? standaloneName }
    /// The map's file descriptor (negative before the object is loaded).
    public var fd: Int32 { handle.map(Libbpf.mapFD) ?? ownedFD!.fd }
    public var keySize: Int { handle.map(Libbpf.mapKeySize) ?? standaloneKeySize }
    public var valueSize: Int { handle.map(Libbpf.mapValueSize) ?? standaloneValueSize }
    /// The kernel map type (`BPF_MAP_TYPE_*` value).
    public var type: UInt32 { handle.map(Libbpf.mapType) ?? 0 }

    var subject: String { "map \(name)" }

    /// Kinds of standalone maps the agent creates (values of the kernel's `enum bpf_map_type`).
    public enum Kind: UInt32, Sendable {
        case hash = 1
        case lruHash = 9
    }

    /// Creates a standalone map (not part of an object). The corresponding libbpf function is `bpf_map_create`.
    public static func create(kind: Kind, name: String, keySize: Int, valueSize: Int, maxEntries: Int, flags: UInt32 = 0) throws(BPFError) -> BPFMap {
        let fd = try Libbpf.mapCreate(
            type: kind.rawValue, name: name, keySize: UInt32(keySize), valueSize: UInt32(valueSize), maxEntries: UInt32(maxEntries), flags: flags)
        return BPFMap(fd: FileDescriptorBox(fd), name: name, keySize: keySize, valueSize: valueSize)
    }

    /// The same kernel map through a descriptor of its own: a value that another thread can own
    /// while this one keeps using the original.
    public func duplicate() throws(BPFError) -> sending BPFMap {
        BPFMap(fd: FileDescriptorBox(try Libbpf.duplicate(fd: fd, subject: subject)), name: name, keySize: keySize, valueSize: valueSize)
    }

    /// Changes max_entries before load (e.g. a ring buffer's size in bytes).
    /// Makes this (not yet loaded) object map use an existing kernel map, so two objects
    /// share it (e.g. one ring buffer for every program). Before load.
    /// The corresponding libbpf function is `bpf_map__reuse_fd`.
    public func reuse(_ other: BPFMap) throws(BPFError) {
        guard let handle else { throw BPFError(operation: "bpf_map__reuse_fd", subject: subject, errno: 22) }
        try Libbpf.reuseFD(handle, fd: other.fd, subject: subject)
    }

    public func setMaxEntries(_ n: Int) throws(BPFError) {
        guard let handle else { throw BPFError(operation: "bpf_map__set_max_entries", subject: subject, errno: EINVAL_) }
        try Libbpf.setMaxEntries(handle, UInt32(n), subject: subject)
    }

    /// Looks `key` up; nil when absent.
    public func lookup(key: [UInt8]) throws(BPFError) -> [UInt8]? {
        try checkSize(key.count, keySize, "key")
        var value = [UInt8](repeating: 0, count: valueSize)
        let fd = self.fd
        let subject = self.subject
        let found = key.withUnsafeBytes { k in
            value.withUnsafeMutableBytes { v in
                Result { () throws(BPFError) in
                    try Libbpf.mapLookup(fd: fd, key: k.baseAddress!, value: v.baseAddress!, subject: subject)
                }
            }
        }
        return try found.get() ? value : nil
    }

    /// Writes `value` at `key` (BPF_ANY).
    public func update(key: [UInt8], value: [UInt8], flags: UInt64 = 0) throws(BPFError) {
        try checkSize(key.count, keySize, "key")
        try checkSize(value.count, valueSize, "value")
        let fd = self.fd
        let subject = self.subject
        try key.withUnsafeBytes { k in
            value.withUnsafeBytes { v in
                Result { () throws(BPFError) in
                    try Libbpf.mapUpdate(fd: fd, key: k.baseAddress!, value: v.baseAddress!, flags: flags, subject: subject)
                }
            }
        }.get()
    }

    /// Removes `key`; returns whether it was present.
    @discardableResult
    public func delete(key: [UInt8]) throws(BPFError) -> Bool {
        try checkSize(key.count, keySize, "key")
        let fd = self.fd
        let subject = self.subject
        return try key.withUnsafeBytes { k in
            Result { () throws(BPFError) in try Libbpf.mapDelete(fd: fd, key: k.baseAddress!, subject: subject) }
        }.get()
    }

    /// How many entries the map holds (a walk of its keys: one syscall per entry) and how many
    /// it can hold. For hash maps; an array always holds its capacity.
    public func occupancy() throws(BPFError) -> (entries: Int, capacity: Int) {
        (try keys().count, Int(try Libbpf.mapMaxEntries(fd: fd, subject: subject)))
    }

    /// Every key in the map (iteration order is the kernel's).
    public func keys() throws(BPFError) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var next = [UInt8](repeating: 0, count: keySize)
        var current: [UInt8]? = nil
        let fd = self.fd
        let subject = self.subject
        while true {
            let more = try next.withUnsafeMutableBytes { n in
                if let current {
                    return current.withUnsafeBytes { c in
                        Result { () throws(BPFError) in
                            try Libbpf.mapNextKey(fd: fd, key: c.baseAddress!, next: n.baseAddress!, subject: subject)
                        }
                    }
                }
                return Result { () throws(BPFError) in try Libbpf.mapNextKey(fd: fd, key: nil, next: n.baseAddress!, subject: subject) }
            }.get()
            if !more { return out }
            out.append(next)
            current = next
        }
    }

    /// Looks `key` up in a per-CPU map: one value per possible CPU (each padded to 8 bytes
    /// in the kernel's answer). nil when absent.
    public func lookupPerCPU(key: [UInt8]) throws(BPFError) -> [[UInt8]]? {
        try checkSize(key.count, keySize, "key")
        let cpus = Libbpf.possibleCPUs()
        let stride = (valueSize + 7) & ~7
        var value = [UInt8](repeating: 0, count: stride * cpus)
        let fd = self.fd
        let subject = self.subject
        let found = key.withUnsafeBytes { k in
            value.withUnsafeMutableBytes { v in
                Result { () throws(BPFError) in try Libbpf.mapLookup(fd: fd, key: k.baseAddress!, value: v.baseAddress!, subject: subject) }
            }
        }
        guard try found.get() else { return nil }
        return (0..<cpus).map { Array(value[($0 * stride)..<($0 * stride + valueSize)]) }
    }

    /// Typed lookup for fixed-layout keys and values.
    public func lookup<K: BitwiseCopyable, V: BitwiseCopyable>(_ key: K, as: V.Type) throws(BPFError) -> V? {
        guard let bytes = try lookup(key: bytesOf(key)) else { return nil }
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: V.self) }
    }

    /// Typed update for fixed-layout keys and values.
    public func update<K: BitwiseCopyable, V: BitwiseCopyable>(_ key: K, _ value: V, flags: UInt64 = 0) throws(BPFError) {
        try update(key: bytesOf(key), value: bytesOf(value), flags: flags)
    }

    /// Removes `key`; false when it was not there.
    @discardableResult
    public func delete<K: BitwiseCopyable>(_ key: K) throws(BPFError) -> Bool { try delete(key: bytesOf(key)) }

    /// Writes `value` at `key` only if the key is absent (BPF_NOEXIST). Returns false, writing
    /// nothing, when an entry is already there.
    @discardableResult
    public func insertIfAbsent<K: BitwiseCopyable, V: BitwiseCopyable>(_ key: K, _ value: V) throws(BPFError) -> Bool {
        do {
            try update(key: bytesOf(key), value: bytesOf(value), flags: UInt64(BPF_NOEXIST))
            return true
        } catch  where error.errno == EEXIST {
            return false
        }
    }

    /// Pins the map at `path` in bpffs. The corresponding libbpf function is `bpf_obj_pin`.
    public func pin(at path: String) throws(BPFError) { try Libbpf.objPin(fd: fd, path: path, subject: subject) }

    /// Removes a pin (any pinned BPF object) from bpffs.
    public static func unpin(_ path: String) throws(BPFError) {
        if unlink(path) != 0 { throw BPFError(operation: "unlink", subject: "pin \(path)", errno: errno) }
    }

    /// Opens a map pinned at `path`. The corresponding libbpf function is `bpf_obj_get`.
    public static func openPinned(_ path: String, keySize: Int, valueSize: Int) throws(BPFError) -> BPFMap {
        let fd = try Libbpf.objGet(path: path)
        return BPFMap(fd: FileDescriptorBox(fd), name: path, keySize: keySize, valueSize: valueSize)
    }

    /// The same kernel map through its own descriptor (F_DUPFD_CLOEXEC), independent of the
    /// object: what a caller keeps after closing a loaded object whose libbpf state (BTF,
    /// instructions, relocations: about 1 MB per hook object) it no longer needs.
    public func independentCopy() throws(BPFError) -> BPFMap {
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 3)
        guard copy >= 0 else { throw BPFError(operation: "fcntl(F_DUPFD_CLOEXEC)", subject: subject, errno: errno) }
        return BPFMap(fd: FileDescriptorBox(copy), name: name, keySize: keySize, valueSize: valueSize)
    }

    private func checkSize(_ got: Int, _ want: Int, _ what: String) throws(BPFError) {
        if got != want { throw BPFError(operation: "\(what) size \(got), map expects \(want)", subject: subject, errno: EINVAL_) }
    }
}

func bytesOf<T: BitwiseCopyable>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value) { [UInt8]($0) } }

/// Owns a file descriptor and closes it on deinit.
final class FileDescriptorBox: Sendable {
    let fd: Int32
    init(_ fd: Int32) { self.fd = fd }
    deinit { close(fd) }
}
