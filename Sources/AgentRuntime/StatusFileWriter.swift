import Foundation

/// Writes the agent's status files (`vigil policy list` reads them) atomically, and only when
/// their content changed or the file is gone: the agent refreshes them every second, and an
/// atomic rewrite (a new file, its data, a rename) is file-system journal work on the node's
/// disk each time, though on a quiet node nothing in them moves.
struct StatusFileWriter {
    private var written: [String: Data] = [:]

    mutating func write(_ data: Data, to path: String) {
        if written[path] == data && FileManager.default.fileExists(atPath: path) { return }
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
            written[path] = data
        } catch {
            written[path] = nil  // retried on the next refresh
        }
    }
}
