import Foundation

/// eBPF fixtures compiled from `bpf/tests/` for the kernel tests (never shipped to users
/// through the `vigil` binary).
public enum BPFTestObjects {
    /// Names of every embedded fixture, sorted.
    public static var names: [String] { GeneratedObjects.base64.keys.sorted() }

    /// The ELF bytes of `bpf/tests/<name>.bpf.c`, or nil if there is none.
    public static func object(named name: String) -> [UInt8]? {
        GeneratedObjects.base64[name].flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) }
    }
}
