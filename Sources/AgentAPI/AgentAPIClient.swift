import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization
import TetragonAPI

/// The CLI's way to a running agent: a gRPC client on the agent's socket, run to completion
/// from synchronous code (the commands are synchronous; the call is not).
public enum AgentAPIClient {
    public typealias Sensors = Tetragon_FineGuidanceSensors.Client<HTTP2ClientTransport.Posix>

    /// Why a call failed, said for a person at a terminal.
    public struct Failure: Error, CustomStringConvertible {
        public var code: RPCError.Code?
        public var description: String
    }

    /// Runs `body` with a client of the agent at `address` (unix:///path) and returns its result.
    public static func call<R: Sendable>(_ address: String, _ body: @escaping @Sendable (Sensors) async throws -> R) throws(Failure) -> R {
        let path: String
        do { path = try APISocket.path(of: address) } catch { throw Failure(code: nil, description: "\(error)") }
        guard FileManager.default.fileExists(atPath: path) else {
            throw Failure(code: .unavailable, description: "no agent API socket at \(path): is `vigil agent` running? (or pass --server-address)")
        }
        let box = ResultBox<R>()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            do {
                let transport = try HTTP2ClientTransport.Posix(target: .unixDomainSocket(path: path), transportSecurity: .plaintext)
                let value = try await withGRPCClient(transport: transport) { client in
                    try await body(Sensors(wrapping: client))
                }
                box.set(.success(value))
            } catch {
                box.set(.failure(error))
            }
            done.signal()
        }
        done.wait()
        switch box.get()! {
        case .success(let v): return v
        case .failure(let error as RPCError):
            if error.code == .unavailable {
                throw Failure(code: .unavailable, description: "the agent at \(path) does not answer (\(error.message)): is `vigil agent` running?")
            }
            throw Failure(code: error.code, description: "\(error.code): \(error.message)")
        case .failure(let error): throw Failure(code: nil, description: "\(error)")
        }
    }

    /// The result handed from the call's task to the waiting thread (the semaphore orders them).
    private final class ResultBox<R: Sendable>: Sendable {
        private let value = Mutex<Result<R, any Error>?>(nil)
        func set(_ r: Result<R, any Error>) { value.withLock { $0 = r } }
        func get() -> Result<R, any Error>? { value.withLock { $0 } }
    }
}
