/// An eBPF ELF object opened from memory: its programs and maps, before and after load.
///
/// Lifecycle: `init(bytes:name:)` opens (parses ELF and BTF; touches no kernel state),
/// `setRodata` / `program(_:).autoload` / `map(_:).setMaxEntries` specialize it, `load()`
/// creates maps and verifies programs in the kernel. Closing (deinit) frees every kernel
/// object it created that nothing else holds; links from `attach` own themselves.
///
/// The corresponding libbpf functions are `bpf_object__open_mem`, `bpf_object__load`
/// and `bpf_object__close`.
public final class BPFObject {
    /// The object's name (the embedded file stem, e.g. `exec`).
    public let name: String
    let handle: OpaquePointer
    public private(set) var isLoaded = false

    /// Opens an object from ELF bytes (e.g. `BPFObjects.object(named:)`).
    ///
    /// libbpf copies what it keeps (BTF, instructions, map definitions, global data) and ends
    /// its libelf session before `bpf_object__open_mem` returns, so the ELF image is needed
    /// only during the call: keeping it for the object's life cost every hook the size of
    /// hook.bpf.o (690 KB) in resident memory.
    public init(bytes: [UInt8], name: String) throws(BPFError) {
        self.name = name
        // aligned for libelf (the array's storage has no alignment promise)
        let image = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 8)
        defer { image.deallocate() }
        bytes.withUnsafeBytes { image.copyMemory(from: $0) }
        handle = try Libbpf.openObject(UnsafeRawBufferPointer(rebasing: image[0..<bytes.count]), name: name)
    }

    deinit {
        Libbpf.closeObject(handle)
    }

    /// Every program in the object, in ELF order.
    public var programs: [BPFProgram] { Libbpf.programs(of: handle).map { BPFProgram(object: self, handle: $0) } }

    /// Every map in the object, including `.rodata`/`.bss` global data maps.
    public var maps: [BPFMap] { Libbpf.maps(of: handle).map { BPFMap(object: self, handle: $0) } }

    /// The program whose C function is `name`.
    public func program(_ name: String) throws(BPFError) -> BPFProgram {
        guard let p = programs.first(where: { $0.name == name }) else {
            throw BPFError(operation: "bpf_object__find_program_by_name", subject: "object \(self.name), program \(name)", errno: ENOENT_)
        }
        return p
    }

    /// The map named `name` (global data maps are named like `<object>.rodata`; use `rodata` helpers for those).
    public func map(_ name: String) throws(BPFError) -> BPFMap {
        guard let m = maps.first(where: { $0.name == name }) else {
            throw BPFError(operation: "bpf_object__find_map_by_name", subject: "object \(self.name), map \(name)", errno: ENOENT_)
        }
        return m
    }

    /// Loads only `programs` (by name): every other program's autoload is turned off.
    public func keepOnly(programs names: Set<String>) throws(BPFError) {
        for p in programs { try p.setAutoload(names.contains(p.name)) }
    }

    /// Sets a `const volatile` global (in `.rodata`) before load, so the verifier sees it
    /// as a constant and prunes the code it disables. `value` must have the variable's size.
    public func setRodata<T: BitwiseCopyable>(_ variable: String, to value: T) throws(BPFError) {
        try setGlobal(variable, section: ".rodata", value: value)
    }

    /// Whether the object has a `const volatile` global named `variable`.
    public func hasRodata(_ variable: String) -> Bool {
        Libbpf.datasecVariable(handle, section: ".rodata", variable: variable) != nil
    }

    /// Sets a mutable global (in `.data` or `.bss`) before load.
    public func setGlobal<T: BitwiseCopyable>(_ variable: String, section: String, value: T) throws(BPFError) {
        let subject = "object \(name), \(section) variable \(variable)"
        guard !isLoaded else { throw BPFError(operation: "set global before load", subject: subject, errno: EBUSY_) }
        guard let (offset, size) = Libbpf.datasecVariable(handle, section: section, variable: variable) else {
            throw BPFError(operation: "btf datasec lookup", subject: subject, errno: ENOENT_)
        }
        guard size == MemoryLayout<T>.size else {
            throw BPFError(operation: "set global: size \(MemoryLayout<T>.size) != \(size)", subject: subject, errno: EINVAL_)
        }
        guard let map = Libbpf.maps(of: handle).first(where: { Libbpf.mapName($0).hasSuffix(section) }),
            let data = Libbpf.initialValue(map), offset + size <= data.count
        else {
            throw BPFError(operation: "bpf_map__initial_value", subject: subject, errno: ENOENT_)
        }
        withUnsafeBytes(of: value) { data.baseAddress!.advanced(by: offset).copyMemory(from: $0.baseAddress!, byteCount: size) }
    }

    /// Creates the maps and verifies and loads every autoload program into the kernel.
    /// A verifier rejection throws with the verifier log in `BPFError.libbpfLog`.
    public func load() throws(BPFError) {
        try Libbpf.loadObject(handle, name: name)
        isLoaded = true
    }
}

// Imported errno constants are `var`s in Glibc; keep typed copies for throwing sites.
let ENOENT_: Int32 = 2
let EINVAL_: Int32 = 22
let EBUSY_: Int32 = 16
