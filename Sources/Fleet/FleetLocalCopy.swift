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

    func save(_ policy: FleetPolicy) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let tmp = path(policy.name) + ".tmp"
            guard FileManager.default.createFile(atPath: tmp, contents: Data(FleetJSON.encode(policy)), attributes: [.posixPermissions: 0o600]) else {
                return
            }
            _ = rename(tmp, path(policy.name))
        } catch {}
    }

    func remove(_ name: String) { try? FileManager.default.removeItem(atPath: path(name)) }
}
