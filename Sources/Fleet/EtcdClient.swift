import EtcdAPI
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization

/// How to reach the fleet's etcd: `--kvstore-endpoints` and its TLS and password settings.
public struct EtcdSettings: Sendable, Equatable {
    /// `http://HOST:PORT` or `https://HOST:PORT` (TLS), tried in order.
    public var endpoints: [String] = ["http://127.0.0.1:2379"]
    /// TLS: the CA that signed etcd's certificate, and the client certificate and key etcd
    /// asks for with `--client-cert-auth`.
    public var caFile: String?
    public var certFile: String?
    public var keyFile: String?
    /// Password authentication (etcd's `auth enable`); the password is read from a file so it
    /// never shows in `ps`.
    public var user: String?
    public var passwordFile: String?
    /// Every key of Vigil lives under this prefix (several fleets can share one etcd).
    public var prefix = "/vigil"
    /// A unary call that takes longer fails (and the caller retries or reports the outage).
    public var callTimeout: Duration = .seconds(5)

    public init() {}

    /// A bad setting, said with the flag to change.
    public func check() throws(EtcdError) {
        guard !endpoints.isEmpty else { throw EtcdError.configuration("--kvstore-endpoints: give at least one URL, e.g. http://127.0.0.1:2379") }
        for e in endpoints { _ = try Self.parse(endpoint: e) }
        if (certFile == nil) != (keyFile == nil) {
            throw EtcdError.configuration("--kvstore-cert and --kvstore-key go together (the client certificate and its key)")
        }
        for (flag, path) in [("--kvstore-ca", caFile), ("--kvstore-cert", certFile), ("--kvstore-key", keyFile), ("--kvstore-password-file", passwordFile)] {
            if let path, !FileManager.default.isReadableFile(atPath: path) { throw EtcdError.configuration("\(flag) \(path): cannot be read") }
        }
        if (user == nil) != (passwordFile == nil) {
            throw EtcdError.configuration("--kvstore-user and --kvstore-password-file go together")
        }
        guard prefix.hasPrefix("/"), !prefix.hasSuffix("/") else {
            throw EtcdError.configuration("--kvstore-prefix \(prefix): start it with / and end it without one, e.g. /vigil")
        }
    }

    /// One endpoint's parts.
    public static func parse(endpoint: String) throws(EtcdError) -> (tls: Bool, host: String, port: Int) {
        let tls: Bool
        let rest: Substring
        if endpoint.hasPrefix("http://") {
            tls = false
            rest = endpoint.dropFirst(7)
        } else if endpoint.hasPrefix("https://") {
            tls = true
            rest = endpoint.dropFirst(8)
        } else {
            throw EtcdError.configuration("--kvstore-endpoints \(endpoint): expected http://HOST:PORT or https://HOST:PORT")
        }
        let hostPort = rest.hasSuffix("/") ? rest.dropLast() : rest
        guard let colon = hostPort.lastIndex(of: ":"), let port = Int(hostPort[hostPort.index(after: colon)...]), (1...65535).contains(port) else {
            throw EtcdError.configuration("--kvstore-endpoints \(endpoint): expected a port, e.g. http://127.0.0.1:2379")
        }
        var host = String(hostPort[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw EtcdError.configuration("--kvstore-endpoints \(endpoint): no host") }
        return (tls, host, port)
    }
}

/// A failure talking to etcd, said for the operator.
public enum EtcdError: Error, CustomStringConvertible, Sendable {
    case configuration(String)
    /// etcd could not be reached or did not answer in time.
    case unavailable(String)
    /// etcd answered with an error (permission, bad request, ...).
    case refused(String)
    /// A watch started at a revision etcd has compacted away: list again.
    case compacted(Int64)

    public var description: String {
        switch self {
        case .configuration(let s): s
        case .unavailable(let s): "etcd unavailable: \(s)"
        case .refused(let s): "etcd refused: \(s)"
        case .compacted(let r): "etcd compacted the history up to revision \(r): list again"
        }
    }
}

/// One key as read from etcd.
public struct EtcdKeyValue: Sendable, Equatable {
    public var key: String
    public var value: [UInt8]
    public var createRevision: Int64
    public var modRevision: Int64
    public var lease: Int64
}

/// A change seen by a watch: a key put (with its value) or deleted.
public enum EtcdChange: Sendable, Equatable {
    case put(EtcdKeyValue)
    case delete(key: String, revision: Int64)
}

/// A thin typed client of etcd's v3 gRPC API (KV, Watch, Lease, Auth) for one endpoint.
/// Every unary call has a deadline, so an outage shows up as an error, never a hang.
public final class EtcdClient: Sendable {
    public let endpoint: String
    let grpc: GRPCClient<HTTP2ClientTransport.Posix>
    let settings: EtcdSettings
    private let token = Mutex<String?>(nil)

    /// Opens a client of `endpoint`; call `close()` when done.
    public init(endpoint: String, settings: EtcdSettings) throws(EtcdError) {
        self.endpoint = endpoint
        self.settings = settings
        let (tls, host, port) = try EtcdSettings.parse(endpoint: endpoint)
        let target: any ResolvableTarget =
            host.contains(":")
            ? .ipv6(host: host, port: port)
            : host.split(separator: ".").count == 4 && host.allSatisfy({ $0.isNumber || $0 == "." })
                ? .ipv4(host: host, port: port) : .dns(host: host, port: port)
        var security: HTTP2ClientTransport.Posix.TransportSecurity = .plaintext
        if tls {
            let ca = settings.caFile
            if let cert = settings.certFile, let key = settings.keyFile {
                security = .mTLS(certificateChain: [.file(path: cert, format: .pem)], privateKey: .file(path: key, format: .pem)) { c in
                    if let ca { c.trustRoots = .certificates([.file(path: ca, format: .pem)]) }
                }
            } else {
                security = .tls { c in
                    if let ca { c.trustRoots = .certificates([.file(path: ca, format: .pem)]) }
                }
            }
        }
        do {
            let transport = try HTTP2ClientTransport.Posix(target: target, transportSecurity: security)
            grpc = GRPCClient(transport: transport)
        } catch {
            throw EtcdError.configuration("--kvstore-endpoints \(endpoint): \(error)")
        }
        let client = grpc
        Task.detached { try? await client.runConnections() }
    }

    public func close() { grpc.beginGracefulShutdown() }

    var kv: Etcdserverpb_KV.Client<HTTP2ClientTransport.Posix> { .init(wrapping: grpc) }
    var leases: Etcdserverpb_Lease.Client<HTTP2ClientTransport.Posix> { .init(wrapping: grpc) }
    var watches: Etcdserverpb_Watch.Client<HTTP2ClientTransport.Posix> { .init(wrapping: grpc) }

    /// A call waits for the connection (a fresh client has none yet) but never longer than
    /// the deadline: an etcd that is down shows as an error within `callTimeout`.
    var unaryOptions: CallOptions {
        var o = CallOptions.defaults
        o.timeout = settings.callTimeout
        o.waitForReady = true
        return o
    }

    /// The auth token etcd wants on every call once `auth enable` is on (nil without a user).
    func metadata() async throws(EtcdError) -> Metadata {
        guard let user = settings.user, let file = settings.passwordFile else { return [:] }
        if let t = token.withLock({ $0 }) { return ["token": "\(t)"] }
        guard let password = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw EtcdError.configuration("--kvstore-password-file \(file): cannot be read")
        }
        var request = Etcdserverpb_AuthenticateRequest()
        request.name = user
        request.password = password.trimmingCharacters(in: .newlines)
        let response = try await call { try await Etcdserverpb_Auth.Client(wrapping: self.grpc).authenticate(request, options: self.unaryOptions) }
        token.withLock { $0 = response.token }
        return ["token": "\(response.token)"]
    }

    /// Runs one call, turning gRPC's errors into EtcdError (a stale token is renewed once).
    /// etcd (Go's HTTP/2 server) closes a connection after a few hundred quick calls whose
    /// streams the client resets as it finishes them (its rapid-reset defence): a call that
    /// dies that way is made again (twice at most, shortly after), on the new connection. Every caller re-reads before a
    /// conditional write, so a repeated transaction is never applied twice in effect.
    func call<R: Sendable>(_ body: () async throws -> R) async throws(EtcdError) -> R {
        for pause in [50, 250] {
            do { return try await body() } catch let e as RPCError where e.code == .unavailable && Self.isReconnect(e.message) {
                try? await Task.sleep(for: .milliseconds(pause))
            } catch {
                return try await callOnce { throw error }
            }
        }
        return try await callOnce(body)
    }

    /// The connection was closed under the call, or is being made again: worth one more try.
    static func isReconnect(_ message: String) -> Bool {
        message.contains("Stream unexpectedly closed") || message.contains("subchannel isn't ready")
    }

    private func callOnce<R: Sendable>(_ body: () async throws -> R) async throws(EtcdError) -> R {
        do { return try await body() } catch let e as RPCError {
            if e.code == .unauthenticated || e.message.contains("invalid auth token") {
                token.withLock { $0 = nil }
            }
            throw Self.translate(e, endpoint: endpoint)
        } catch let e as EtcdError {
            throw e
        } catch {
            throw EtcdError.unavailable("\(endpoint): \(error)")
        }
    }

    static func translate(_ e: RPCError, endpoint: String) -> EtcdError {
        switch e.code {
        case .unavailable, .deadlineExceeded, .cancelled, .unknown, .internalError:
            return .unavailable("\(endpoint): \(e.code): \(e.message)")
        default:
            if e.message.contains("required revision has been compacted") { return .compacted(0) }
            return .refused("\(endpoint): \(e.code): \(e.message)")
        }
    }

    static func kv(_ m: Mvccpb_KeyValue) -> EtcdKeyValue {
        EtcdKeyValue(
            key: String(decoding: m.key, as: UTF8.self), value: [UInt8](m.value), createRevision: m.createRevision, modRevision: m.modRevision, lease: m.lease)
    }

    /// The key just past every key starting with `prefix` (etcd's range end for a prefix).
    static func rangeEnd(ofPrefix prefix: String) -> Data {
        var bytes = [UInt8](prefix.utf8)
        while let last = bytes.last {
            if last < 0xff {
                bytes[bytes.count - 1] = last + 1
                return Data(bytes)
            }
            bytes.removeLast()
        }
        return Data([0])
    }

    // MARK: keys

    /// Every key under `prefix`, and the store's revision they were read at.
    public func list(prefix: String) async throws(EtcdError) -> (values: [EtcdKeyValue], revision: Int64) {
        var request = Etcdserverpb_RangeRequest()
        request.key = Data(prefix.utf8)
        request.rangeEnd = Self.rangeEnd(ofPrefix: prefix)
        let md = try await metadata()
        let r = try await call { try await kv.range(request, metadata: md, options: unaryOptions) }
        return (r.kvs.map(Self.kv), r.header.revision)
    }

    /// One key, or nil.
    public func get(_ key: String) async throws(EtcdError) -> EtcdKeyValue? {
        var request = Etcdserverpb_RangeRequest()
        request.key = Data(key.utf8)
        let md = try await metadata()
        let r = try await call { try await kv.range(request, metadata: md, options: unaryOptions) }
        return r.kvs.first.map(Self.kv)
    }

    /// Writes a key (attached to `lease` when not 0: it goes when the lease expires).
    @discardableResult
    public func put(_ key: String, _ value: [UInt8], lease: Int64 = 0) async throws(EtcdError) -> Int64 {
        var request = Etcdserverpb_PutRequest()
        request.key = Data(key.utf8)
        request.value = Data(value)
        request.lease = lease
        let md = try await metadata()
        return try await call { try await kv.put(request, metadata: md, options: unaryOptions) }.header.revision
    }

    /// Writes `key` only if its modification revision is still `expected` (0: only if absent).
    /// False when another writer got there first: read again and retry.
    public func put(_ key: String, _ value: [UInt8], ifRevision expected: Int64, lease: Int64 = 0) async throws(EtcdError) -> Bool {
        var compare = Etcdserverpb_Compare()
        compare.key = Data(key.utf8)
        compare.result = .equal
        if expected == 0 {
            compare.target = .create
            compare.createRevision = 0
        } else {
            compare.target = .mod
            compare.modRevision = expected
        }
        var put = Etcdserverpb_PutRequest()
        put.key = Data(key.utf8)
        put.value = Data(value)
        put.lease = lease
        var op = Etcdserverpb_RequestOp()
        op.requestPut = put
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [compare]
        txn.success = [op]
        let md = try await metadata()
        return try await call { try await kv.txn(txn, metadata: md, options: unaryOptions) }.succeeded
    }

    /// Writes every pair only if none of the keys exists yet (one transaction): false when
    /// any of them does.
    public func createAll(_ pairs: [(key: String, value: [UInt8])], lease: Int64 = 0) async throws(EtcdError) -> Bool {
        var txn = Etcdserverpb_TxnRequest()
        for (key, value) in pairs {
            var compare = Etcdserverpb_Compare()
            compare.key = Data(key.utf8)
            compare.result = .equal
            compare.target = .create
            compare.createRevision = 0
            txn.compare.append(compare)
            var put = Etcdserverpb_PutRequest()
            put.key = Data(key.utf8)
            put.value = Data(value)
            put.lease = lease
            var op = Etcdserverpb_RequestOp()
            op.requestPut = put
            txn.success.append(op)
        }
        let md = try await metadata()
        let request = txn
        return try await call { try await kv.txn(request, metadata: md, options: unaryOptions) }.succeeded
    }

    /// Deletes `key` only if its modification revision is still `expected`.
    public func delete(_ key: String, ifRevision expected: Int64) async throws(EtcdError) -> Bool {
        var compare = Etcdserverpb_Compare()
        compare.key = Data(key.utf8)
        compare.result = .equal
        compare.target = .mod
        compare.modRevision = expected
        var del = Etcdserverpb_DeleteRangeRequest()
        del.key = Data(key.utf8)
        var op = Etcdserverpb_RequestOp()
        op.requestDeleteRange = del
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [compare]
        txn.success = [op]
        let md = try await metadata()
        return try await call { try await kv.txn(txn, metadata: md, options: unaryOptions) }.succeeded
    }

    /// Deletes one key, or every key under it with `prefix: true`; returns how many went.
    @discardableResult
    public func delete(_ key: String, prefix: Bool = false) async throws(EtcdError) -> Int64 {
        var request = Etcdserverpb_DeleteRangeRequest()
        request.key = Data(key.utf8)
        if prefix { request.rangeEnd = Self.rangeEnd(ofPrefix: key) }
        let md = try await metadata()
        return try await call { try await kv.deleteRange(request, metadata: md, options: unaryOptions) }.deleted
    }

    /// Compacts the history up to `revision` (tests use it to force a watch to list again).
    public func compact(revision: Int64) async throws(EtcdError) {
        var request = Etcdserverpb_CompactionRequest()
        request.revision = revision
        request.physical = true
        let md = try await metadata()
        _ = try await call { try await kv.compact(request, metadata: md, options: unaryOptions) }
    }

    // MARK: leases

    /// A new lease of `ttl` seconds; keys put under it go when it is not kept alive.
    public func grantLease(ttl: Int64) async throws(EtcdError) -> Int64 {
        var request = Etcdserverpb_LeaseGrantRequest()
        request.ttl = ttl
        let md = try await metadata()
        let r = try await call { try await leases.leaseGrant(request, metadata: md, options: unaryOptions) }
        guard r.error.isEmpty else { throw EtcdError.refused("\(endpoint): lease grant: \(r.error)") }
        return r.id
    }

    /// Renews a lease once; returns its new TTL, 0 when it has already expired.
    public func keepAlive(lease: Int64) async throws(EtcdError) -> Int64 {
        var request = Etcdserverpb_LeaseKeepAliveRequest()
        request.id = lease
        let md = try await metadata()
        let options = unaryOptions
        let message = request
        return try await call {
            try await leases.leaseKeepAlive(
                metadata: md, options: options,
                requestProducer: { writer in try await writer.write(message) },
                onResponse: { response in
                    for try await m in response.messages { return m.ttl }
                    return 0
                })
        }
    }

    /// Ends a lease now (its keys go at once): a node leaving cleanly.
    public func revoke(lease: Int64) async throws(EtcdError) {
        var request = Etcdserverpb_LeaseRevokeRequest()
        request.id = lease
        let md = try await metadata()
        _ = try await call { try await leases.leaseRevoke(request, metadata: md, options: unaryOptions) }
    }

    // MARK: watch

    /// Follows every change under `prefix` from `revision` (inclusive), handing each batch to
    /// `onChanges`, until the stream ends or fails. Throws `.compacted` when etcd no longer
    /// has that revision: the caller lists again and watches from the list's revision + 1.
    public func watch(prefix: String, from revision: Int64, onChanges: @escaping @Sendable ([EtcdChange]) async -> Void) async throws(EtcdError) {
        var create = Etcdserverpb_WatchCreateRequest()
        create.key = Data(prefix.utf8)
        create.rangeEnd = Self.rangeEnd(ofPrefix: prefix)
        create.startRevision = revision
        create.progressNotify = true
        var request = Etcdserverpb_WatchRequest()
        request.createRequest = create
        let md = try await metadata()
        var options = CallOptions.defaults
        options.waitForReady = false
        let endpoint = endpoint
        let message = request
        let outcome: EtcdError? = try await call {
            try await watches.watch(
                metadata: md, options: options,
                requestProducer: { writer in
                    try await writer.write(message)
                    // keep the request side open: closing it ends the watch
                    while !Task.isCancelled { try await Task.sleep(for: .seconds(3600)) }
                },
                onResponse: { response in
                    for try await m in response.messages {
                        if m.compactRevision != 0 { return EtcdError.compacted(m.compactRevision) }
                        if m.canceled { return EtcdError.unavailable("\(endpoint): watch cancelled: \(m.cancelReason)") }
                        guard !m.events.isEmpty else { continue }
                        let changes: [EtcdChange] = m.events.map { e in
                            e.type == .delete
                                ? .delete(key: String(decoding: e.kv.key, as: UTF8.self), revision: e.kv.modRevision) : .put(Self.kv(e.kv))
                        }
                        await onChanges(changes)
                    }
                    return EtcdError.unavailable("\(endpoint): watch stream ended")
                })
        }
        if let outcome { throw outcome }
    }

    /// Watches `prefix` from `revision` + 1 for as long as the connection lives. When etcd has
    /// compacted the revision the watch needs (it was listed before a compaction, or a slow
    /// watcher fell behind one), `relist` reads the whole prefix again and returns the
    /// revision it read at, and the watch goes on from there: nothing between is lost.
    /// Throws when the connection breaks (the caller reconnects and lists anyway).
    public func follow(
        prefix: String, from revision: Int64, relist: @Sendable () async throws -> Int64,
        onCompacted: @Sendable (Int64) -> Void = { _ in }, onChanges: @escaping @Sendable ([EtcdChange]) async -> Void
    ) async throws {
        var revision = revision
        while true {
            do {
                try await watch(prefix: prefix, from: revision + 1, onChanges: onChanges)
            } catch EtcdError.compacted(let r) {
                onCompacted(r)
                revision = try await relist()
            }
        }
    }
}
