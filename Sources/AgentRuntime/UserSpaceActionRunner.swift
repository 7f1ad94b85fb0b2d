import AgentCore
import Foundation
import Logging

/// Carries out GetUrl and DnsLookup for posted hook records, off the event path: one serial
/// queue, at most `backlog` waiting (a flood of matches drops the surplus and says so, instead
/// of opening thousands of connections from the node), each network step bounded by `timeout`.
final class UserSpaceActionRunner: @unchecked Sendable {
    private let queue = DispatchQueue(label: "vigil.user-space-actions", qos: .utility)
    private let lock = NSLock()
    private var pending = 0
    private var dropped = 0
    private let backlog: Int
    private let timeout: TimeInterval
    private let logger: Logger

    init(logger: Logger, backlog: Int = 64, timeout: TimeInterval = 5) {
        self.logger = logger
        self.backlog = backlog
        self.timeout = timeout
    }

    /// Queues `action` for the event `policy` posted; never blocks the caller.
    func run(_ action: UserSpaceAction, policy: String) {
        lock.lock()
        guard pending < backlog else {
            dropped += 1
            let n = dropped
            lock.unlock()
            if n == 1 || n % 1000 == 0 {
                logger.warning("user-space action dropped: \(backlog) already waiting", metadata: ["policy": "\(policy)", "dropped": "\(n)"])
            }
            return
        }
        pending += 1
        lock.unlock()
        queue.async { [self] in
            defer {
                lock.lock()
                pending -= 1
                lock.unlock()
            }
            switch action {
            case .getURL(let url):
                let outcome = Self.get(url, timeout: timeout)
                logger.info("GetUrl \(url): \(outcome)", metadata: ["policy": "\(policy)"])
            case .dnsLookup(let name):
                let outcome = Self.lookup(name)
                logger.info("DnsLookup \(name): \(outcome)", metadata: ["policy": "\(policy)"])
            }
        }
    }

    /// The addresses `name` resolves to through the node's resolver, or the resolver's error.
    static func lookup(_ name: String) -> String {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(name, nil, &hints, &list)
        guard rc == 0, let list else { return "failed: \(String(cString: gai_strerror(rc)))" }
        defer { freeaddrinfo(list) }
        var addresses: [String] = []
        var p: UnsafeMutablePointer<addrinfo>? = list
        while let a = p {
            var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if getnameinfo(a.pointee.ai_addr, a.pointee.ai_addrlen, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 {
                let text = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !addresses.contains(text) { addresses.append(text) }
            }
            p = a.pointee.ai_next
        }
        return "resolved to " + addresses.joined(separator: ", ")
    }

    /// One HTTP/1.1 GET; the response's status line, or why there is none.
    static func get(_ url: HTTPURL, timeout: TimeInterval) -> String {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(url.host, String(url.port), &hints, &list)
        guard rc == 0, let list else { return "lookup failed: \(String(cString: gai_strerror(rc)))" }
        defer { freeaddrinfo(list) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        var lastError = "no address"
        var p: UnsafeMutablePointer<addrinfo>? = list
        while let a = p {
            p = a.pointee.ai_next
            let fd = socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), a.pointee.ai_protocol)
            guard fd >= 0 else {
                lastError = String(cString: strerror(errno))
                continue
            }
            defer { close(fd) }
            // SO_SNDTIMEO bounds connect() too on Linux; SO_RCVTIMEO the wait for the answer
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            guard connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 else {
                lastError = "connect: \(String(cString: strerror(errno)))"
                continue
            }
            let hostHeader = url.host.contains(":") ? "[\(url.host)]" : url.host
            let request =
                "GET \(url.target) HTTP/1.1\r\nHost: \(hostHeader)\(url.port == 80 ? "" : ":\(url.port)")\r\nUser-Agent: vigil\r\nConnection: close\r\n\r\n"
            let sent = request.utf8CString.withUnsafeBufferPointer { send(fd, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
            guard sent == request.utf8.count else { return "send: \(String(cString: strerror(errno)))" }
            var buffer = [UInt8](repeating: 0, count: 512)
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { return n == 0 ? "closed without an answer" : "recv: \(String(cString: strerror(errno)))" }
            let head = buffer.prefix(n).prefix { $0 != 13 && $0 != 10 }
            return String(decoding: head, as: UTF8.self)
        }
        return lastError
    }
}
