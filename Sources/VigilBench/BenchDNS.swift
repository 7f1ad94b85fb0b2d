import Foundation

/// A minimal UDP DNS server and client for the datapath bench: A answers only, the name's
/// address from a closure, TTL one hour.
enum BenchDNS {
    /// 10.78.x.y for name `n<i>.rate.bench.test` (i < 65536), else 10.78.255.254.
    static func address(for name: String) -> String {
        guard name.hasPrefix("n"), let i = Int(name.dropFirst().prefix { $0.isNumber }), i < 65536 else { return "10.78.255.254" }
        return "10.78.\(i / 256).\(i % 256)"
    }

    static func query(_ name: String, id: UInt16) -> [UInt8] {
        var q: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        for label in name.split(separator: ".") { q += [UInt8(label.utf8.count)] + Array(label.utf8) }
        return q + [0, 0, 1, 0, 1]
    }

    static func serve(on address: String, answer: @escaping @Sendable (String) -> String, answered: Counter) {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = UInt16(53).bigEndian
        inet_pton(AF_INET, address, &sa.sin_addr)
        let rc = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { fatalError("bench DNS server: bind \(address):53: errno \(errno)") }
        Thread.detachNewThread {
            var buf = [UInt8](repeating: 0, count: 512)
            var peer = sockaddr_in()
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            while true {
                let n = withUnsafeMutablePointer(to: &peer) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, &buf, buf.count, 0, $0, &len) }
                }
                guard n > 12 else { continue }
                var pos = 12
                var labels: [String] = []
                while pos < n, buf[pos] != 0 {
                    let l = Int(buf[pos])
                    labels.append(String(decoding: buf[pos + 1..<min(n, pos + 1 + l)], as: UTF8.self))
                    pos += 1 + l
                }
                let question = Array(buf[12..<min(n, pos + 5)])
                var parts = [UInt32](repeating: 0, count: 1)
                inet_pton(AF_INET, answer(labels.joined(separator: ".")), &parts)
                var r: [UInt8] = [buf[0], buf[1], 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0] + question
                r += [0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4] + withUnsafeBytes(of: parts[0]) { Array($0) }
                _ = withUnsafePointer(to: &peer) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, r, r.count, 0, $0, len) } }
                answered.add()
            }
        }
    }

    static func socketTo(_ server: String) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = UInt16(53).bigEndian
        inet_pton(AF_INET, server, &sa.sin_addr)
        _ = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        return fd
    }

    /// The address of an answer's A record (one question, one answer), or nil.
    static func ask(_ name: String, server: String) -> String? {
        let fd = socketTo(server)
        defer { close(fd) }
        var tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let q = query(name, id: 7)
        guard send(fd, q, q.count, 0) == q.count else { return nil }
        var buf = [UInt8](repeating: 0, count: 512)
        let n = recv(fd, &buf, buf.count, 0)
        guard n >= q.count + 16 else { return nil }
        return buf[n - 4..<n].map(String.init).joined(separator: ".")
    }

    /// Asks distinct names at `rate` per second for `seconds` from one socket, reading answers as
    /// they come: (asked, answered).
    static func flood(rate: Int, seconds: Int, server: String) -> (Int, Int) {
        let fd = socketTo(server)
        defer { close(fd) }
        var tv = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var sent = 0
        var answered = 0
        var buf = [UInt8](repeating: 0, count: 512)
        let start = DispatchTime.now().uptimeNanoseconds
        let total = rate * seconds
        while sent < total {
            let due = Int((DispatchTime.now().uptimeNanoseconds - start) * UInt64(rate) / 1_000_000_000)
            while sent < min(due, total) {
                let q = query("n\(sent % 65536).rate.bench.test", id: UInt16(sent & 0xffff))
                if send(fd, q, q.count, 0) == q.count { sent += 1 }
            }
            while recv(fd, &buf, buf.count, Int32(MSG_DONTWAIT)) > 0 { answered += 1 }
            usleep(200)
        }
        while recv(fd, &buf, buf.count, 0) > 0 { answered += 1 }  // until 200 ms of quiet
        return (sent, answered)
    }
}
