import BPFKit
import Foundation

/// The running kernel's function symbols (/proc/kallsyms, read once): a kprobe can only
/// attach to a function the kernel has, and saying so before loading gives a clear error.
///
/// Lookups search the raw text with strstr for "<space>T name\n" (or `t`, or a module
/// symbol's "\t[module]"): parsing 200,000 lines into a set cost seconds in the emulated test guests.
public enum KernelSymbols {
    private static let text: [UInt8]? = {
        // procfs reports size 0: read to EOF (Foundation's file readers trust the size).
        guard let s = readTextFile("/proc/kallsyms"), !s.isEmpty else { return nil }
        return Array(s.utf8) + [0]  // NUL-terminated for strstr
    }()

    /// Whether `name` is a kernel function; true when kallsyms cannot be read (the attach then decides).
    public static func hasFunction(_ name: String) -> Bool {
        guard let text else { return true }
        for type in ["T", "t"] {
            for end in ["\n", "\t"] where contains(text, Array(" \(type) \(name)\(end)".utf8)) { return true }
        }
        return false
    }

    private static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        let n = needle + [0]
        return haystack.withUnsafeBufferPointer { h in
            n.withUnsafeBufferPointer { nb in
                h.withMemoryRebound(to: CChar.self) { hc in
                    nb.withMemoryRebound(to: CChar.self) { nc in strstr(hc.baseAddress!, nc.baseAddress!) != nil }
                }
            }
        }
    }
}
