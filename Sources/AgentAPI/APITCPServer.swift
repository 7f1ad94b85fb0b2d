import AgentRuntime
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import TetragonAPI

/// The agent's gRPC API on TCP (`--server-tcp-address`), for clients on other hosts or built
/// for Tetragon's default `localhost:54321`. Mutual TLS only: over TCP the kernel cannot tell
/// who connects (the unix socket checks the peer is root), and this API adds policies that
/// kill, so a client must present a certificate the configured CA signed. Plaintext TCP is
/// not offered, on loopback either (any local user could reach it).
public final class APITCPServer: Sendable {
    public struct Settings: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var certificate: String
        public var key: String
        public var clientCA: String

        /// The TCP listener the configuration asks for, checked: nil when none; an error naming
        /// the flag when the address or a TLS file is missing or unreadable.
        public static func from(_ c: AgentConfiguration) throws(APIServerError) -> Settings? {
            let files = [
                ("--server-tls-cert-file", c.serverTLSCertFile), ("--server-tls-key-file", c.serverTLSKeyFile),
                ("--server-tls-client-ca-file", c.serverTLSClientCAFile),
            ]
            guard let address = c.serverTCPAddress else {
                if let given = files.first(where: { $0.1 != nil }) {
                    throw APIServerError(description: "\(given.0) is for the TCP API: give --server-tcp-address HOST:PORT too, or leave it out")
                }
                return nil
            }
            let listen: ListenAddress
            do { listen = try ListenAddress(address, example: "127.0.0.1:54321") } catch {
                throw APIServerError(description: "--server-tcp-address \(address): \(error.why)")
            }
            // the transport binds addresses, not names: Tetragon's default is localhost:54321
            let host = listen.host == "localhost" ? "127.0.0.1" : listen.host
            var paths: [String] = []
            for (flag, path) in files {
                guard let path else {
                    throw APIServerError(
                        description:
                            "--server-tcp-address \(address): the TCP API is mutual TLS only; give --server-tls-cert-file, --server-tls-key-file and --server-tls-client-ca-file (\(flag) is missing)"
                    )
                }
                guard let text = try? String(contentsOfFile: path, encoding: .utf8), text.contains("-----BEGIN ") else {
                    throw APIServerError(description: "\(flag) \(path): not a readable PEM file")
                }
                paths.append(path)
            }
            return Settings(host: host, port: listen.port, certificate: paths[0], key: paths[1], clientCA: paths[2])
        }
    }

    let server: GRPCServer<HTTP2ServerTransport.Posix>
    let transport: HTTP2ServerTransport.Posix
    let logger: Logger

    public init(agent: AgentHandle, settings: Settings, logger: Logger) {
        self.logger = logger
        let address: GRPCNIOTransportCore.SocketAddress =
            settings.host.contains(":") ? .ipv6(host: settings.host, port: settings.port) : .ipv4(host: settings.host, port: settings.port)
        transport = HTTP2ServerTransport.Posix(
            address: address,
            transportSecurity: .mTLS(
                certificateChain: [.file(path: settings.certificate, format: .pem)], privateKey: .file(path: settings.key, format: .pem)
            ) { tls in
                tls.trustRoots = .certificates([.file(path: settings.clientCA, format: .pem)])
                tls.clientCertificateVerification = .noHostnameVerification
            })
        server = GRPCServer(transport: transport, services: [SensorsService(agent: agent, logger: logger)])
    }

    /// Starts serving; returns the bound address once it listens (port 0 picks one), or throws
    /// why it cannot (a taken port, a certificate or key TLS cannot use).
    public func start() async throws(APIServerError) -> String {
        let server = server
        let logger = logger
        Task.detached {
            do { try await server.serve() } catch { logger.error("TCP API server stopped", metadata: ["error": "\(error)"]) }
        }
        do {
            let bound = try await transport.listeningAddress
            let text = bound.ipv4.map { "\($0.host):\($0.port)" } ?? bound.ipv6.map { "[\($0.host)]:\($0.port)" } ?? "\(bound)"
            logger.info("API listening on TCP (mutual TLS)", metadata: ["address": "\(text)"])
            return text
        } catch {
            server.beginGracefulShutdown()
            throw APIServerError(description: "--server-tcp-address: cannot serve (\(error)); check the port is free and the TLS files")
        }
    }

    public func stop() { server.beginGracefulShutdown() }
}

public struct APIServerError: Error, CustomStringConvertible {
    public var description: String
}
