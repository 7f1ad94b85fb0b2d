import AgentRuntime
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// Prometheus metrics and health over HTTP (`--metrics-address 127.0.0.1:2112`), on NIO's
/// threads: a scrape reads the agent's published snapshot and never touches the drain thread.
///   GET /metrics  the text exposition format
///   GET /healthz  200 while the agent runs (liveness)
///   GET /readyz   200 once every configured policy is attached, else 503 (readiness)
public final class MetricsServer: Sendable {
    let channel: any Channel
    public let boundPort: Int

    /// Binds `address` (host:port; port 0 picks one) now, so a taken port fails the start.
    public init(address: String, agent: AgentHandle, logger: Logger) throws {
        let (host, port) = try Self.parse(address)
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(MetricsHandler(agent: agent))
                }
            }
        do {
            channel = try bootstrap.bind(host: host, port: port).wait()
        } catch {
            throw MetricsServerError(description: "--metrics-address \(address): cannot listen (\(error)); pick a free port or another address")
        }
        boundPort = channel.localAddress?.port ?? port
        logger.info("metrics listening", metadata: ["address": "\(host):\(boundPort)"])
    }

    public func stop() {
        try? channel.close().wait()
    }

    static func parse(_ address: String) throws -> (String, Int) {
        do {
            let a = try ListenAddress(address, example: "127.0.0.1:2112")
            return (a.host, a.port)
        } catch { throw MetricsServerError(description: "--metrics-address \(address): \(error.why)") }
    }
}

public struct MetricsServerError: Error, CustomStringConvertible {
    public var description: String
}

/// One HTTP/1.1 exchange at a time per connection; bodies of requests are ignored.
final class MetricsHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let agent: AgentHandle

    init(agent: AgentHandle) { self.agent = agent }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let (status, type, body) = respond(method: head.method, path: path)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: type)
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        headers.add(name: "Connection", value: head.isKeepAlive ? "keep-alive" : "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let keepAlive = head.isKeepAlive
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { [context] _ in
            if !keepAlive { context.close(promise: nil) }
        }
    }

    func respond(method: HTTPMethod, path: String) -> (HTTPResponseStatus, String, String) {
        guard method == .GET || method == .HEAD else { return (.methodNotAllowed, "text/plain", "GET only\n") }
        switch path {
        case "/metrics":
            let text = PrometheusText.render(
                agent.stats.snapshot,
                .init(
                    version: VigilVersion.string, ready: agent.readiness.current == .ready, startedAt: agent.startedAt, fleet: agent.fleet.snapshot))
            return (.ok, "text/plain; version=0.0.4; charset=utf-8", text)
        case "/healthz":
            return agent.readiness.current == .stopping ? (.serviceUnavailable, "text/plain", "stopping\n") : (.ok, "text/plain", "ok\n")
        case "/readyz":
            switch agent.readiness.current {
            case .ready: return (.ok, "text/plain", "ready\n")
            case .starting: return (.serviceUnavailable, "text/plain", "starting: policies are still loading\n")
            case .stopping: return (.serviceUnavailable, "text/plain", "stopping\n")
            }
        default:
            return (.notFound, "text/plain", "not found: /metrics, /healthz or /readyz\n")
        }
    }
}
