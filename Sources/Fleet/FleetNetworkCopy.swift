import Foundation
import Logging
import NetworkPolicy

/// The fleet's network state as this node last saw it (the cluster identities it knows, the
/// other nodes' endpoints, the fleet network policies), in one file of the fleet state
/// directory: an agent started while etcd is down numbers its endpoints and names remote
/// peers from it, so label policies between nodes keep holding. Written to a temporary file
/// and renamed, only when it changed.
struct FleetNetworkCopy: Codable, Equatable, Sendable {
    /// Cluster identity number (as text: a JSON object key) -> its labels.
    var identities: [String: [String: String]] = [:]
    var remote: [ClusterIdentities.RemoteEndpoint] = []
    var policies: [FleetPolicy] = []

    static func path(in directory: String) -> String { "\(directory)/network.copy" }

    static func load(directory: String, logger: Logger) -> FleetNetworkCopy? {
        let file = path(in: directory)
        guard let data = FileManager.default.contents(atPath: file) else { return nil }
        guard let copy = try? FleetJSON.decode(FleetNetworkCopy.self, [UInt8](data)) else {
            logger.error("fleet: \(file): not a copy of the fleet's network state; ignored (delete it, the next sync writes it again)")
            return nil
        }
        return copy
    }

    func save(directory: String) { FleetLocalCopy.write(FleetJSON.encode(self), to: Self.path(in: directory), in: directory) }
}
