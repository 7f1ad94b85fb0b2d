import BPFKit
import Foundation

/// The running kernel's function symbols (/proc/kallsyms), read once: a kprobe can only
/// attach to a function the kernel has, and saying so before loading gives a clear error.
public enum KernelSymbols {
    private static let functions: Set<String>? = {
        // procfs reports size 0: read to EOF (Foundation's file readers trust the size).
        guard let text = readTextFile("/proc/kallsyms"), !text.isEmpty else { return nil }
        var out = Set<String>()
        out.reserveCapacity(200_000)
        for line in text.split(separator: "\n") {
            // "ffffffff81000000 T _text" (module symbols add "\t[module]")
            let parts = line.split(separator: " ", maxSplits: 2)
            guard parts.count == 3, parts[1] == "T" || parts[1] == "t" else { continue }
            let name = parts[2].split(separator: "\t").first.map(String.init) ?? String(parts[2])
            out.insert(name)
        }
        return out
    }()

    /// Whether `name` is a kernel function; true when kallsyms cannot be read (the attach then decides).
    public static func hasFunction(_ name: String) -> Bool {
        guard let functions else { return true }
        return functions.contains(name)
    }
}
