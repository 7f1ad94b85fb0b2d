import AgentRuntime
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import TetragonAPI

/// The agent's gRPC API (Tetragon's FineGuidanceSensors) on its unix socket, served on the
/// Swift concurrency pool and NIO's threads, never on the agent's drain thread.
public final class APIServer: Sendable {
    let server: GRPCServer<HTTP2ServerTransport.Posix>
    let path: String
    let logger: Logger

    /// Binds the socket (0600) before anything else of the agent starts: fails when another
    /// agent serves it (one agent per node).
    public static func bind(address: String) throws -> (fd: Int32, path: String) {
        let path = try APISocket.path(of: address)
        return (try APISocket.listen(path: path), path)
    }

    /// Serves `agent` on the socket `bind` made.
    public init(agent: AgentHandle, socket: (fd: Int32, path: String), logger: Logger) {
        let (fd, path) = socket
        self.path = path
        self.logger = logger
        server = GRPCServer(
            transport: .http2NIOPosix(listeningSocketDescriptor: Int(fd), transportSecurity: .plaintext),
            services: [SensorsService(agent: agent, logger: logger)])
    }

    /// Serves until `stop()`.
    public func start() {
        let server = server
        let logger = logger
        let path = path
        Task.detached {
            do {
                logger.info("API listening", metadata: ["socket": "\(path)"])
                try await server.serve()
            } catch {
                logger.error("API server stopped", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Stops accepting calls, ends the streams, removes the socket.
    public func stop() {
        server.beginGracefulShutdown()
        unlink(path)
    }
}
