import Foundation
import Logging

/// The fleet policies this node last applied, one JSON file each in the fleet state
/// directory: what the agent enforces when it starts while etcd is down. Written to a
/// temporary file and renamed, so a crash mid-write leaves the previous copy whole.
struct FleetLocalCopy: Sendable {
    let directory: String

    func path(_ name: String) -> String { "\(directory)/\(name).json" }

    func load(logger: Logger) -> [FleetPolicy] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
        var out: [FleetPolicy] = []
        for n in names {
            let file = "\(directory)/\(n)"
            guard let data = FileManager.default.contents(atPath: file), let p = try? FleetJSON.decode(FleetPolicy.self, [UInt8](data)),
                "\(p.name).json" == n
            else {
                logger.error("fleet: \(file): not a fleet policy copy; ignored (delete it, the next sync writes it again)")
                continue
            }
            out.append(p)
        }
        return out
    }

    func save(_ policy: FleetPolicy) { Self.write(FleetJSON.encode(policy), to: path(policy.name), in: directory) }

    /// `bytes` into `file` (in `directory`, made 0700 if missing) through a temporary file and
    /// a rename, so a crash mid-write leaves the previous content whole. Best effort: the
    /// copies only matter if etcd is down at the next start.
    static func write(_ bytes: [UInt8], to file: String, in directory: String) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch { return }
        let tmp = file + ".tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: Data(bytes), attributes: [.posixPermissions: 0o600]) else { return }
        _ = rename(tmp, file)
    }

    func remove(_ name: String) { try? FileManager.default.removeItem(atPath: path(name)) }
}
