import Foundation

/// Paths of the test fixtures bundled with this target.
enum Fixtures {
    static var root: URL { Bundle.module.resourceURL!.appendingPathComponent("Fixtures") }

    /// Every file under `Fixtures/<dir>` ending in one of `suffixes`, sorted.
    static func files(in dir: String, suffixes: [String]) -> [URL] {
        var out: [URL] = []
        let walker = FileManager.default.enumerator(at: root.appendingPathComponent(dir), includingPropertiesForKeys: nil)
        while let url = walker?.nextObject() as? URL {
            if suffixes.contains(where: url.path.hasSuffix) { out.append(url) }
        }
        return out.sorted { $0.path < $1.path }
    }
}
