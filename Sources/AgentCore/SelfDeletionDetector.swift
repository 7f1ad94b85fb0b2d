/// A program or script deleting itself (T1070.004): the dropper's `rm -f "$0"` at the end of
/// an install script, an implant's `system("rm -f /tmp/.x")` of the file it was started from,
/// `shred -u` of either. Seen at the exec of the deleting tool: one of its file arguments,
/// resolved against its working directory, is the script a shell above it runs or the
/// program file of a process above it.
public enum SelfDeletionDetector {
    /// Tools that delete the files they are given.
    public static let deleters: Set<String> = ["rm", "unlink", "shred", "srm", "wipe"]
    /// How far up the deleted file's process may be (`payload -> sh -c -> rm`).
    static let depth = 4

    /// The ancestor whose script or program `p` deletes, if it does.
    public static func deletedAncestor(_ p: ProcessEntry, parent: (ProcessEntry) -> ProcessEntry?) -> ProcessEntry? {
        guard deleters.contains(String(PipelineDetector.base(p.binary))) else { return nil }
        let targets = Set(fileArguments(p.arguments).map { resolve($0, cwd: p.cwd) })
        guard !targets.isEmpty else { return nil }
        var cursor = parent(p)
        var level = 0
        while let a = cursor, level < depth {
            let name = String(PipelineDetector.base(a.binary))
            if PipelineDetector.shells.contains(name) {
                // a shell or interpreter: its script is its first argument that is not an option
                if let script = fileArguments(a.arguments).first, targets.contains(resolve(script, cwd: a.cwd)) { return a }
            } else if targets.contains(a.binary) {
                return a
            }
            cursor = parent(a)
            level += 1
        }
        return nil
    }

    /// The arguments that are not options (`--` ends the options), unquoted as Tetragon quotes.
    static func fileArguments(_ arguments: String) -> [String] {
        var out: [String] = []
        var options = true
        for word in words(arguments) {
            if options && word == "--" {
                options = false
            } else if options && word.hasPrefix("-") {
                continue
            } else {
                out.append(word)
            }
        }
        return out
    }

    /// Space-separated words; a double-quoted word keeps its spaces.
    static func words(_ s: String) -> [String] {
        var out: [String] = []
        var current = ""
        var quoted = false
        var inWord = false
        for ch in s {
            if ch == "\"" {
                quoted.toggle()
                inWord = true
            } else if ch == " " && !quoted {
                if inWord { out.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(ch)
                inWord = true
            }
        }
        if inWord { out.append(current) }
        return out
    }

    /// An absolute path without `.`, `..` and repeated slashes, taken lexically (both sides of
    /// the comparison are names the processes gave, not looked up).
    static func resolve(_ path: String, cwd: String) -> String {
        let full = path.hasPrefix("/") ? path : (cwd.hasSuffix("/") ? cwd : cwd + "/") + path
        var parts: [Substring] = []
        for part in full.split(separator: "/", omittingEmptySubsequences: true) where part != "." {
            if part == ".." {
                _ = parts.popLast()
            } else {
                parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }
}
