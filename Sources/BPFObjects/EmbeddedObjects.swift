import Foundation

/// The eBPF objects compiled from `bpf/progs/` at build time and embedded in this module.
///
/// Objects are looked up by file stem: `bpf/progs/exec.bpf.c` is `"exec"`.
public enum BPFObjects {
    /// Names of every embedded object, sorted.
    public static var names: [String] { GeneratedObjects.base64.keys.sorted() }

    /// The ELF bytes of the object built from `bpf/progs/<name>.bpf.c`, or nil if there is none.
    public static func object(named name: String) -> [UInt8]? {
        GeneratedObjects.base64[name].flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) }
    }
}
